/**
 * SqliteStore: sessions in one SQLite table through better-sqlite3, for single-server apps that want
 * sessions to survive a restart without running a database server.
 *
 * better-sqlite3 is synchronous; each call is a short indexed statement, prepared once. The methods
 * are still async so they satisfy the store contract and a thrown error becomes a rejection.
 * merge runs read-modify-write inside a transaction: SQLite has one writer, so it is atomic.
 *
 * @example
 * import { SqliteStore } from "koa-sessionkit/sqlite";
 * app.use(session({ store: new SqliteStore({ path: "data/sessions.db" }) }, app));
 *
 * @module koa-sessionkit/sqlite
 */
import { debuglog } from "node:util";
import type BetterSqlite3 from "better-sqlite3";
// Named types for everything public: the .d.ts then reads without esModuleInterop (@types/better-sqlite3 is `export =`).
import type { Database as SqliteDatabase, Statement } from "better-sqlite3";
import { parseStored, serializeStored } from "./json.js";
import { TextTemplates } from "./text-templates.js";
import { stringifyJson } from "./deep-json.js";
import { applyChanges, applyTouch } from "./apply.js";
import {
  ttlMs,
  type MaxAge,
  type SessionChanges,
  type SessionListEntry,
  type SessionStore,
  type StoredSession,
} from "./contract.js";
import { loadPeer } from "./peer.js";
import { entryFromRow, exceptKeys, metaColumns, refuseEmpty, refuseUnknownOptions, sqlIdentifier, startPruneTimer, type MetaColumns, type MetaRow } from "./shared.js";
import { SessionConfigError } from "../errors.js";
import { writeLockWaitFor, type WriteLockWait } from "./sqlite-lock.js";

const debug = debuglog("koa-sessionkit:sqlite");

/** Options of {@link SqliteStore}: `path` or `database`. */
export interface SqliteStoreOptions {
  /** Database file the store opens (and on close closes). ":memory:" works for tests. */
  path?: string;
  /** An open better-sqlite3 Database you manage; the store never closes it. */
  database?: SqliteDatabase;
  /** Default "koa_sessions". */
  table?: string;
  /** Create the table and indexes if missing. Default true. */
  createTable?: boolean;
  /** How often expired rows are deleted. Default 10 minutes; false disables pruning. */
  pruneIntervalMs?: number | false;
  /**
   * With `path`: how long a write waits (ms, blocking the process) for a write lock another
   * connection holds. Default 1000. A `database` you pass keeps its own `busy_timeout`. After a write
   * waited this long in vain, later writes fail at once until one succeeds (sqlite-lock.ts).
   */
  busyTimeout?: number;
}

const SQLITE_OPTIONS = ["path", "database", "table", "createTable", "pruneIntervalMs", "busyTimeout"] as const;
/** What connect-sqlite3 and better-sqlite3-session-store call the same settings. */
const SQLITE_RENAMED = { db: "path (a file) or database (an open Database)", client: "database", dir: "path", expired: "pruneIntervalMs" };

/** The table and indexes, for users who run their own migrations (then pass createTable: false). */
export function SQLITE_SCHEMA_SQL(table = "koa_sessions"): string {
  return `CREATE TABLE IF NOT EXISTS "${table}" (
  key          TEXT PRIMARY KEY,
  data         TEXT NOT NULL,
  user_id      TEXT,
  expires_at   INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  ip           TEXT,
  user_agent   TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON "${table}" (expires_at);
CREATE INDEX IF NOT EXISTS "${table}_user_id" ON "${table}" (user_id) WHERE user_id IS NOT NULL;`;
}

function loadBetterSqlite3(): typeof BetterSqlite3 {
  return loadPeer<typeof BetterSqlite3>("better-sqlite3", "SqliteStore");
}

/** The file opened, or a SessionConfigError naming the path and what to check (the driver's text is terse). */
function openDatabase(Database: typeof BetterSqlite3, path: string): SqliteDatabase {
  try {
    return new Database(path);
  } catch (error) {
    throw new SessionConfigError(
      `SqliteStore could not open ${JSON.stringify(path)}: ${(error as Error).message}; check that its directory exists and this process may write there`,
      "ERR_SESSIONKIT_CONFIG",
      { cause: error },
    );
  }
}

type Row = [key: string, data: string, expiresAt: number, ...columns: MetaColumns];

interface Statements {
  get: Statement<[string, number], { data: string }>;
  put: Statement<Row>;
  destroy: Statement<[string]>;
  list: Statement<[string, number], MetaRow>;
  userKeys: Statement<[string, number], { key: string }>;
  prune: Statement<[number]>;
}

function prepareStatements(db: SqliteDatabase, t: string): Statements {
  return {
    get: db.prepare(`SELECT data FROM ${t} WHERE key = ? AND expires_at > ?`),
    put: db.prepare(`INSERT OR REPLACE INTO ${t} (key, data, expires_at, user_id, created_at, last_seen_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    destroy: db.prepare(`DELETE FROM ${t} WHERE key = ?`),
    list: db.prepare(`SELECT key, expires_at, created_at, last_seen_at, ip, user_agent FROM ${t} WHERE user_id = ? AND expires_at > ? ORDER BY last_seen_at DESC`),
    userKeys: db.prepare(`SELECT key FROM ${t} WHERE user_id = ? AND expires_at > ?`),
    prune: db.prepare(`DELETE FROM ${t} WHERE expires_at <= ?`),
  };
}

/**
 * A file that opened but is no usable session database (not SQLite at all, read-only, a table of the
 * same name with other columns): a SessionConfigError naming the path, the table and what to check.
 */
function unusableDatabase(path: string | undefined, table: string, error: unknown): unknown {
  if (!(error instanceof Error) || error.name !== "SqliteError") return error;
  // Another connection held the write lock past busyTimeout: the file is fine, so no config advice.
  if (/^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code))) return error;
  const where = path === undefined ? "the given database" : JSON.stringify(path);
  return new SessionConfigError(
    `SqliteStore could not set up table ${JSON.stringify(table)} in ${where}: ${error.message}; check that the file is a SQLite database (or does not exist yet), that this process may write to it and its directory, and that no other table of that name has different columns (or pass another table)`,
    "ERR_SESSIONKIT_CONFIG",
    { cause: error },
  );
}

/**
 * Sessions in one SQLite table through better-sqlite3 (an optional peer dependency), for a single
 * server that wants sessions to survive a restart without a database server. Opens its own file in
 * WAL mode, creates its table if missing and prunes expired rows on a timer.
 *
 * @example
 * import { SqliteStore } from "koa-sessionkit/sqlite";
 * app.use(session({ store: new SqliteStore({ path: "data/sessions.db" }) }, app));
 */
export class SqliteStore implements SessionStore {
  /** The better-sqlite3 Database in use (yours, or the one the store opened). */
  readonly database: SqliteDatabase;
  readonly #ownsDatabase: boolean;
  /** Sessions read more than once lately: a read of an unchanged session copies a template instead of parsing (text-templates.ts). */
  readonly #templates = new TextTemplates();
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #get: Statement<[string, number], { data: string }>;
  readonly #put: Statement<Row>;
  readonly #destroy: Statement<[string]>;
  readonly #list: Statement<[string, number], MetaRow>;
  readonly #userKeys: Statement<[string, number], { key: string }>;
  readonly #prune: Statement<[number]>;
  readonly #lock: WriteLockWait;
  /** Read-modify-write of one row, atomic. Returns false when the row is missing or expired. */
  readonly #update: (key: string, maxAge: MaxAge | undefined, change: (stored: StoredSession) => void) => boolean;

  /**
   * @throws SessionConfigError when neither path nor database is given, the table name is not a
   * plain identifier, or better-sqlite3 is not installed (`ERR_SESSIONKIT_MISSING_PEER`).
   */
  constructor(options: SqliteStoreOptions = {}) {
    refuseUnknownOptions("SqliteStore", options, SQLITE_OPTIONS, SQLITE_RENAMED);
    const table = options.table ?? "koa_sessions";
    const busyTimeout = options.busyTimeout ?? 1000;
    if (!Number.isInteger(busyTimeout) || busyTimeout < 0) {
      throw new SessionConfigError(`SqliteStore busyTimeout must be a whole number of ms (0 or more), got ${JSON.stringify(options.busyTimeout)}`);
    }
    const t = sqlIdentifier("SqliteStore", "table", table);
    if (options.database) {
      this.database = options.database;
      this.#ownsDatabase = false;
    } else if (typeof options.path === "string") {
      refuseEmpty("SqliteStore", "path", options.path, '{ path: "sessions.db" } (or ":memory:" on purpose)');
      const Database = loadBetterSqlite3();
      this.database = openDatabase(Database, options.path);
      this.#ownsDatabase = true;
    } else {
      throw new SessionConfigError('SqliteStore needs { path: "sessions.db" } or { database }');
    }
    const db = this.database;
    let statements: Statements;
    try {
      if (this.#ownsDatabase) {
        // WAL: readers never wait on the writer, and a commit is one fsync of the log, not of the file.
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL");
        db.pragma(`busy_timeout = ${busyTimeout}`);
      }
      if (options.createTable ?? true) db.exec(SQLITE_SCHEMA_SQL(table));
      statements = prepareStatements(db, t);
    } catch (error) {
      if (this.#ownsDatabase) db.close();
      throw unusableDatabase(options.path, table, error);
    }
    this.#get = statements.get;
    this.#put = statements.put;
    this.#destroy = statements.destroy;
    this.#list = statements.list;
    this.#userKeys = statements.userKeys;
    this.#prune = statements.prune;
    this.#lock = writeLockWaitFor(db);
    // BEGIN IMMEDIATE: take the write lock before the read. A deferred transaction would read first
    // and then fail at once (SQLITE_BUSY, no busy wait) when another process wrote in between:
    // about one write in ten with two processes on one file.
    this.#update = db.transaction((key: string, maxAge: MaxAge | undefined, change: (stored: StoredSession) => void) => {
      const now = Date.now();
      // Destroy wins: a missing (or expired) row is never recreated.
      const stored = parseStored(this.#get.get(key, now)?.data);
      if (!stored) return false;
      change(stored);
      this.#put.run(key, stringifyJson(stored), now + ttlMs(maxAge), ...metaColumns(stored, now));
      return true;
    }).immediate;

    this.#timer = startPruneTimer("SqliteStore", options.pruneIntervalMs, () => this.prune());
  }

  async get(key: string): Promise<StoredSession | null> {
    return this.#templates.parse(key, this.#get.get(key, Date.now())?.data);
  }

  async set(key: string, session: StoredSession, maxAge: MaxAge | undefined): Promise<void> {
    const now = Date.now();
    this.#lock.write(() => this.#put.run(key, serializeStored(session), now + ttlMs(maxAge), ...metaColumns(session, now)));
  }

  /** Resolves whether a row was removed: false tells the middleware another request won. */
  async destroy(key: string): Promise<boolean> {
    return this.#lock.write(() => this.#destroy.run(key).changes > 0);
  }

  async touch(key: string, session: StoredSession, maxAge: MaxAge | undefined): Promise<void> {
    this.#lock.write(() => this.#update(key, maxAge, (stored) => applyTouch(stored, session)));
  }

  async merge(key: string, changes: SessionChanges, maxAge: MaxAge | undefined): Promise<boolean> {
    return this.#lock.write(() => this.#update(key, maxAge, (stored) => applyChanges(stored, changes)));
  }

  async listByUser(userId: string): Promise<SessionListEntry[]> {
    return this.#list.all(userId, Date.now()).map(entryFromRow);
  }

  async destroyByUser(userId: string, options: { except?: string | string[] } = {}): Promise<number> {
    const except = new Set(exceptKeys(options.except));
    const destroyAll = this.database.transaction(() => {
      let count = 0;
      for (const { key } of this.#userKeys.all(userId, Date.now())) {
        if (!except.has(key)) count += this.#destroy.run(key).changes;
      }
      return count;
    });
    return this.#lock.write(destroyAll);
  }

  /** Delete expired rows now. Never throws: a failed prune is retried at the next interval. */
  prune(): number {
    try {
      return this.#lock.write(() => this.#prune.run(Date.now()).changes);
    } catch (error) {
      debug("prune failed: %s", (error as Error).message);
      return 0;
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#ownsDatabase && this.database.open) this.database.close();
  }
}

export default SqliteStore;
