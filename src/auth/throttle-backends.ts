/**
 * Where loginThrottle keeps its failure counters, on rate-limiter-flexible: memory (one process,
 * forgotten on restart), SQLite (one host, kept across restarts), Redis or PostgreSQL (shared by every
 * instance of the app). A counter is a fixed window that starts
 * at the first failure; the failure that reaches the limit blocks the key for `blockMs`, which is the
 * lockout (rate-limiter-flexible's own blockDuration would only start one failure later).
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
  peek(key: string): Promise<Counter | null>;
  hit(key: string): Promise<Counter>;
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
}

export type Store =
  | { kind: "memory" }
  | { kind: "redis"; client: RedisLike }
  | { kind: "pg"; pool: PgLike; tableName: string }
  | { kind: "sqlite"; database: SqliteLike; tableName: string };

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A counter kind on one store. */
export class LimiterBackend implements FailureBackend {
  readonly #limiter: RateLimiterAbstract;
  readonly #kind: CounterKind;
  /** PostgreSQL and SQLite create their table asynchronously; every call waits for it. */
  readonly #ready: Promise<void>;

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
      this.#ready = Promise.resolve();
    } else if (store.kind === "pg" || store.kind === "sqlite") {
      const option = store.kind === "pg" ? "pg" : "sqlite";
      const client = store.kind === "pg" ? store.pool : store.database;
      if (store.kind === "pg" ? typeof store.pool?.query !== "function" : typeof store.database?.prepare !== "function") {
        throw new SessionConfigError(`loginThrottle({ ${option} }) needs ${store.kind === "pg" ? "a pg Pool" : "a better-sqlite3 Database"}`);
      }
      if (!TABLE_NAME.test(store.tableName)) {
        throw new SessionConfigError(`loginThrottle({ tableName }) must be a plain SQL identifier, got ${store.tableName}`);
      }
      let settle: (err?: unknown) => void = () => undefined;
      const ready = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
      // Expired rows are cleared by the library's own periodic (unref'd) timer.
      const tableOptions = { ...base, storeClient: client, tableName: store.tableName, clearExpiredByTimeout: true };
      const onReady = (err?: unknown) => {
        // Two instances creating the table at the same moment: one of them sees a duplicate.
        const code = (err as { code?: string } | undefined)?.code;
        settle(code === "23505" || code === "42P07" ? undefined : err);
      };
      this.#limiter =
        store.kind === "pg"
          ? new RateLimiterPostgres(tableOptions, onReady)
          : new RateLimiterSQLite({ ...tableOptions, storeType: "better-sqlite3" }, onReady);
      ready.catch(() => undefined); // surfaced on first use instead
      this.#ready = ready;
    } else {
      this.#limiter = new RateLimiterMemory(base);
      this.#ready = Promise.resolve();
    }
  }

  async peek(key: string): Promise<Counter | null> {
    await this.#ready;
    const res = await this.#limiter.get(key);
    return res && res.consumedPoints > 0 ? { count: res.consumedPoints, msLeft: Math.max(0, res.msBeforeNext) } : null;
  }

  async hit(key: string): Promise<Counter> {
    await this.#ready;
    let res: RateLimiterRes;
    try {
      res = await this.#limiter.consume(key);
    } catch (rejection) {
      // Over the limit already (still locked): the library rejects with the counter, not an Error.
      if (rejection instanceof RateLimiterRes) return { count: rejection.consumedPoints, msLeft: rejection.msBeforeNext };
      throw rejection;
    }
    if (res.consumedPoints === this.#kind.limit) {
      await (this.#limiter as RateLimiterStoreAbstract).block(key, Math.ceil(this.#kind.blockMs / 1000));
      return { count: res.consumedPoints, msLeft: this.#kind.blockMs };
    }
    return { count: res.consumedPoints, msLeft: res.msBeforeNext };
  }

  async reset(key: string): Promise<void> {
    await this.#ready;
    await this.#limiter.delete(key);
  }
}
