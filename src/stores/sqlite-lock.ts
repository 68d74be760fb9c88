/**
 * Waiting for SQLite's write lock without freezing the process for as long as someone else holds it.
 *
 * better-sqlite3 is synchronous: a write that finds the lock taken busy-waits on the event loop for
 * up to `busy_timeout`, and nothing else in the process runs meanwhile. That wait is right for short
 * contention (two app processes on one file hold the lock for a millisecond per write). It is wrong
 * when another program holds the lock for long (a backup, a migration, a stuck transaction): every
 * queued write would wait the whole timeout in turn, and a 30 s lock froze a probe app for 30 s,
 * health checks included.
 *
 * So the first write that waited the whole timeout and still failed (SQLITE_BUSY) switches the
 * connection to not waiting at all (`busy_timeout = 0`): later writes fail at once (a 503 for their
 * request) while reads, which WAL never blocks, go on. The first write that succeeds again puts the
 * wait back. One lock episode costs the process one timeout of blocking, not one per write.
 *
 * One policy per connection, shared by everything writing through it (SqliteStore, the login
 * throttle's counters): whichever sees the lock first stops them all waiting.
 */
/** What the policy uses of a better-sqlite3 Database: its pragma call. */
export interface PragmaDatabase {
  pragma(source: string, options?: { simple?: boolean }): unknown;
}

/** SQLITE_BUSY (and its extended codes): the lock was held by another connection. */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

export class WriteLockWait {
  readonly #database: PragmaDatabase;
  /** The connection's busy_timeout to restore (the store's, or the one a passed-in database had). */
  readonly #waitMs: number;
  #failingFast = false;

  constructor(database: PragmaDatabase, waitMs: number) {
    this.#database = database;
    this.#waitMs = waitMs;
  }

  /** True while writes fail at once because a long-held lock was seen. */
  get failingFast(): boolean {
    return this.#failingFast;
  }

  /** Run one write statement or transaction under this policy. */
  write<T>(work: () => T): T {
    let result: T;
    try {
      result = work();
    } catch (error) {
      this.#failed(error);
      throw error;
    }
    this.#succeeded();
    return result;
  }

  /** The same for a write behind a promise (rate-limiter-flexible's SQLite limiter). */
  async writeAsync<T>(work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      this.#failed(error);
      throw error;
    }
    this.#succeeded();
    return result;
  }

  #failed(error: unknown): void {
    if (isBusy(error) && !this.#failingFast) {
      this.#failingFast = true;
      this.#database.pragma("busy_timeout = 0");
    }
  }

  #succeeded(): void {
    if (this.#failingFast) {
      this.#failingFast = false;
      this.#database.pragma(`busy_timeout = ${this.#waitMs}`);
    }
  }
}

const perConnection = new WeakMap<PragmaDatabase, WriteLockWait>();

/** The policy of this connection, made on first use with the connection's busy_timeout as its wait. */
export function writeLockWaitFor(database: PragmaDatabase): WriteLockWait {
  let policy = perConnection.get(database);
  if (!policy) {
    policy = new WriteLockWait(database, database.pragma("busy_timeout", { simple: true }) as number);
    perConnection.set(database, policy);
  }
  return policy;
}
