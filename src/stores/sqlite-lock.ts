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
 */
import type BetterSqlite3 from "better-sqlite3";

/** SQLITE_BUSY (and its extended codes): the lock was held by another connection. */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

export class WriteLockWait {
  readonly #database: BetterSqlite3.Database;
  /** The connection's busy_timeout to restore (the store's, or the one a passed-in database had). */
  readonly #waitMs: number;
  #failingFast = false;

  constructor(database: BetterSqlite3.Database, waitMs: number) {
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
      if (isBusy(error) && !this.#failingFast) {
        this.#failingFast = true;
        this.#database.pragma("busy_timeout = 0");
      }
      throw error;
    }
    if (this.#failingFast) {
      this.#failingFast = false;
      this.#database.pragma(`busy_timeout = ${this.#waitMs}`);
    }
    return result;
  }
}
