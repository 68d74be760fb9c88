/**
 * Where loginThrottle keeps its failure counters, on rate-limiter-flexible: memory (one process,
 * forgotten on restart), SQLite (one host, kept across restarts), Redis or PostgreSQL (shared by every
 * instance of the app). A counter is a fixed window that starts at the first attempt; every attempt
 * is counted when it starts (`take`), so parallel attempts can't all pass one check. The failure
 * that reaches the limit locks the key for `blockMs` (`lock`), which is the lockout.
 *
 * Internal to throttle.ts. The client types are structural, so neither ioredis, pg nor better-sqlite3
 * is imported.
 */
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
  RateLimiterSQLite,
  type RateLimiterAbstract,
  type RateLimiterStoreAbstract,
} from "rate-limiter-flexible";
import { SessionConfigError } from "../errors.js";
import { createdConcurrently } from "../stores/shared.js";
import { writeLockWaitFor, type WriteLockWait } from "../stores/sqlite-lock.js";

export interface Counter {
  count: number;
  /** ms until the counter (or the lockout) expires. */
  msLeft: number;
}

/** One kind of counter (per account, per IP), with its own limit and window. */
export interface CounterKind {
  limit: number;
  windowMs: number;
  blockMs: number;
  /** Namespace of this kind's keys in the shared store. */
  keyPrefix: string;
}

export interface FailureBackend {
  take(key: string): Promise<Counter>;
  lock(key: string): Promise<Counter>;
  refund(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

/** The slice of an ioredis client used here (rate-limiter-flexible drives it). */
export interface RedisLike {
  /** Run a Lua script (ioredis's `eval`). */
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

/** The slice of a pg Pool used here (rate-limiter-flexible drives it). */
export interface PgLike {
  /** Run one parameterized query (pg's `Pool.query`). */
  query(text: string, values?: unknown[]): Promise<{
    /** The result rows. */
    rows: Array<Record<string, unknown>>;
  }>;
}

/** The slice of a better-sqlite3 Database used here (rate-limiter-flexible drives it). */
export interface SqliteLike {
  /** Prepare a statement (better-sqlite3's `prepare`). */
  prepare(source: string): unknown;
  /** Wrap a function in a transaction (better-sqlite3's `transaction`). */
  transaction(fn: (...args: never[]) => unknown): unknown;
  /** Read or set a pragma (better-sqlite3's `pragma`): the busy_timeout, see stores/sqlite-lock.ts. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
}

export type Store =
  | { kind: "memory" }
  | { kind: "redis"; client: RedisLike }
  | { kind: "pg"; pool: PgLike; tableName: string }
  | { kind: "sqlite"; database: SqliteLike; tableName: string };

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A counter kind on one store. */
export class LimiterBackend implements FailureBackend {
  #limiter: RateLimiterAbstract;
  readonly #kind: CounterKind;
  /**
   * PostgreSQL and SQLite create their table asynchronously when the limiter is built; every call
   * waits for that. A creation that failed (the database was down at start-up) is tried again on the
   * next call with a fresh limiter, so the throttle recovers with its database instead of refusing
   * every login until the app restarts. `undefined` once the table exists.
   */
  #ready: Promise<void> | undefined;
  /** The last table creation failed: the next call starts another. */
  #failed = false;
  readonly #build: ((onReady: (err?: unknown) => void) => RateLimiterStoreAbstract) | undefined;
  /**
   * SQLite: the connection's write-lock policy, shared with a SqliteStore on it. A write waiting for a
   * lock another program holds blocks the process (better-sqlite3 is synchronous); after one such
   * wait in vain, later writes fail at once (503) until one succeeds, instead of each login waiting.
   */
  readonly #lockWait: WriteLockWait | undefined;

  constructor(store: Store, kind: CounterKind) {
    this.#kind = kind;
    const base = {
      points: kind.limit,
      duration: Math.ceil(kind.windowMs / 1000),
      keyPrefix: kind.keyPrefix,
    };
    if (store.kind === "redis") {
      if (typeof store.client?.eval !== "function") throw new SessionConfigError("loginThrottle({ redis }) needs an ioredis client");
      this.#limiter = new RateLimiterRedis({ ...base, storeClient: store.client });
    } else if (store.kind === "pg" || store.kind === "sqlite") {
      const option = store.kind === "pg" ? "pg" : "sqlite";
      if (store.kind === "pg" ? typeof store.pool?.query !== "function" : typeof store.database?.prepare !== "function") {
        throw new SessionConfigError(`loginThrottle({ ${option} }) needs ${store.kind === "pg" ? "a pg Pool" : "a better-sqlite3 Database"}`);
      }
      if (!TABLE_NAME.test(store.tableName)) {
        throw new SessionConfigError(`loginThrottle({ tableName }) must be a plain SQL identifier, got ${store.tableName}`);
      }
      if (store.kind === "sqlite") this.#lockWait = writeLockWaitFor(store.database);
      // Expired rows are cleared by the library's own periodic (unref'd) timer.
      const tableOptions = { ...base, tableName: store.tableName, clearExpiredByTimeout: true };
      this.#build = (onReady) =>
        store.kind === "pg"
          ? new RateLimiterPostgres({ ...tableOptions, storeClient: store.pool }, onReady)
          : new RateLimiterSQLite({ ...tableOptions, storeClient: store.database, storeType: "better-sqlite3" }, onReady);
      this.#limiter = this.#createTable(this.#build);
    } else {
      this.#limiter = new RateLimiterMemory(base);
    }
  }

  /** Build a limiter, which creates its table, and track that creation in #ready. */
  #createTable(build: (onReady: (err?: unknown) => void) => RateLimiterStoreAbstract): RateLimiterStoreAbstract {
    let settle: (err?: unknown) => void = () => undefined;
    const created = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
    // Built outside the promise: a client the library can't use throws here, at loginThrottle().
    const limiter = build((err) => {
      // Two instances creating the table at the same moment: one of them sees a duplicate. The table
      // exists, but rate-limiter-flexible only marks it created on its own success and would answer
      // "Table is not created yet" to every later call (a 503 on each login): mark it here.
      if (err && createdConcurrently(err)) {
        queueMicrotask(() => ((limiter as RateLimiterStoreAbstract & { tableCreated: boolean }).tableCreated = true));
        return settle();
      }
      settle(err);
    });
    const tracked: Promise<void> = created.then(
      () => {
        if (this.#ready === tracked) this.#ready = undefined;
      },
      (error: unknown) => {
        if (this.#ready === tracked) this.#failed = true;
        throw error;
      },
    );
    tracked.catch(() => undefined); // surfaced to the calls that wait for it
    this.#ready = tracked;
    return limiter;
  }

  /** The table creation to wait for, if any; after a failed one (database down at start-up), a new try. */
  #whenReady(): Promise<void> | undefined {
    if (this.#failed && this.#build) {
      this.#failed = false;
      this.#limiter = this.#createTable(this.#build);
    }
    return this.#ready;
  }

  /**
   * Count one attempt (atomically: parallel attempts get distinct counts) and return the counter.
   * A key that is locked, or already past the limit, answers with its count too: never a throw.
   */
  async take(key: string): Promise<Counter> {
    await this.#whenReady();
    try {
      const res = await this.#write(() => this.#limiter.consume(key));
      return { count: res.consumedPoints, msLeft: res.msBeforeNext };
    } catch (rejection) {
      // Over the limit (or locked): the library rejects with the counter, not an Error.
      if (rejection instanceof RateLimiterRes) return { count: rejection.consumedPoints, msLeft: rejection.msBeforeNext };
      throw rejection;
    }
  }

  /** Lock the key for blockMs (the lockout), from now. */
  async lock(key: string): Promise<Counter> {
    await this.#whenReady();
    await this.#write(() => (this.#limiter as RateLimiterStoreAbstract).block(key, Math.ceil(this.#kind.blockMs / 1000)));
    return { count: this.#kind.limit, msLeft: this.#kind.blockMs };
  }

  /** Give back one attempt (a successful login is no failure of its IP). */
  async refund(key: string): Promise<void> {
    await this.#whenReady();
    await this.#write(() => this.#limiter.reward(key, 1));
  }

  async reset(key: string): Promise<void> {
    await this.#whenReady();
    await this.#write(() => this.#limiter.delete(key));
  }

  #write<T>(work: () => Promise<T>): Promise<T> {
    return this.#lockWait ? this.#lockWait.writeAsync(work) : work();
  }
}
