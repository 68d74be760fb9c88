/**
 * PostgresStore: sessions in one PostgreSQL table through node-postgres (pg 8).
 *
 * The session JSON is kept as text, byte for byte what the middleware serialized, so a read is one
 * SELECT and one parse. Expiry is a bigint in ms on the application's clock (the same clock that sets
 * `_expire`), and every read filters on it, so an expired row is never served even before pruning.
 * merge is one UPDATE that only touches an existing row: a destroyed session stays destroyed.
 *
 * @example
 * import { PostgresStore } from "koa-sessionkit/postgres";
 * app.use(session({ store: new PostgresStore({ connectionString: process.env.DATABASE_URL }) }, app));
 * // or share a pool: new PostgresStore({ pool })
 *
 * @module koa-sessionkit/postgres
 */
import { createHash } from "node:crypto";
import { debuglog } from "node:util";
import type { Pool, PoolConfig, QueryConfig, QueryResultRow } from "pg";
import { parseStored, serializeStored } from "./json.js";
import { TextTemplates } from "./text-templates.js";
import { TurnBatch } from "./turn-batch.js";
import { isDangerousKey, stringifyJson } from "./deep-json.js";
import { applyTouch } from "./apply.js";
import {
  ttlMs,
  type MaxAge,
  type SessionChanges,
  type SessionListEntry,
  type SessionStore,
  type StoredSession,
} from "./contract.js";
import { loadPeer } from "./peer.js";
import { createdConcurrently, entryFromRow, exceptKeys, metaColumns, refuseEmpty, refuseUnknownOptions, sqlIdentifier, startPruneTimer } from "./shared.js";
import { SessionConfigError } from "../errors.js";

const debug = debuglog("koa-sessionkit:postgres");

/** Options of {@link PostgresStore}: `pool` or `connectionString`. */
export interface PostgresStoreOptions {
  /** A pg Pool you manage; the store never ends it. */
  pool?: Pool;
  /** postgres:// URL; the store creates (and on close ends) its own pool. */
  connectionString?: string;
  /** Extra pg Pool options for connectionString mode. */
  poolOptions?: PoolConfig;
  /** Table name (a plain SQL identifier). Default "koa_sessions". */
  table?: string;
  /** Schema of the table. Default: the connection's search_path (usually "public"). */
  schema?: string;
  /** Create the table and indexes on first use. Default true; set false if you run migrations. */
  createTable?: boolean;
  /** How often expired rows are deleted. Default 10 minutes; false disables pruning. */
  pruneIntervalMs?: number | false;
}

const POSTGRES_OPTIONS = ["pool", "connectionString", "poolOptions", "table", "schema", "createTable", "pruneIntervalMs"] as const;
/** connect-pg-simple's names for the same settings (its pruneSessionInterval is in seconds). */
const POSTGRES_RENAMED = {
  tableName: "table",
  schemaName: "schema",
  conString: "connectionString",
  conObject: "poolOptions",
  createTableIfMissing: "createTable",
  pruneSessionInterval: "pruneIntervalMs (in milliseconds)",
};

/**
 * Index names are per schema and at most 63 bytes: derive them from the whole (schema-qualified)
 * table name, so two tables never share one, and keep a long name unique with a hash of it.
 */
function indexPrefixFor(table: string): string {
  const name = table.replace(/"/g, "").replace(/\./g, "_");
  return name.length <= 40 ? name : `${name.slice(0, 31)}_${createHash("sha1").update(name).digest("hex").slice(0, 8)}`;
}

/**
 * The table and indexes, for users who run their own migrations (then pass createTable: false).
 * `table` is the optionally schema-qualified name, quoted or not, e.g. `"koa_sessions"` or
 * `app.sessions`; the index names are derived from it unless `indexPrefix` is given.
 */
export function POSTGRES_SCHEMA_SQL(table = '"koa_sessions"', indexPrefix = indexPrefixFor(table)): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  key          text PRIMARY KEY,
  data         text NOT NULL,
  user_id      text,
  expires_at   bigint NOT NULL,
  created_at   bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  ip           text,
  user_agent   text
);
CREATE INDEX IF NOT EXISTS "${indexPrefix}_expires_at" ON ${table} (expires_at);
CREATE INDEX IF NOT EXISTS "${indexPrefix}_user_id" ON ${table} (user_id) WHERE user_id IS NOT NULL;`;
}

function loadPg(): typeof import("pg") {
  return loadPeer<typeof import("pg")>("pg", "PostgresStore");
}

type Statement = "get" | "getMany" | "set" | "destroy" | "merge" | "touch" | "list" | "destroyUser" | "prune";

interface SessionRow extends QueryResultRow {
  key: string;
  data: string;
  expires_at: string;
  created_at: string;
  last_seen_at: string;
  ip: string | null;
  user_agent: string | null;
}

/**
 * Sessions in one PostgreSQL table through node-postgres (pg 8, an optional peer dependency). Creates
 * its table and indexes on first use (or see {@link POSTGRES_SCHEMA_SQL}), filters expired rows on
 * every read and prunes them on a timer. `close()` stops the timer and ends only a pool it created.
 *
 * @example
 * import { PostgresStore } from "koa-sessionkit/postgres";
 * const store = new PostgresStore({ connectionString: process.env.DATABASE_URL }); // or { pool }
 * app.use(session({ store }, app));
 */
export class PostgresStore implements SessionStore {
  /** The pg Pool in use (yours, or the one the store created). */
  readonly pool: Pool;
  /** The table as written in SQL: quoted, and schema-qualified when `schema` was given. */
  readonly table: string;
  readonly #ownsPool: boolean;
  /** Sessions read more than once lately: a read of an unchanged session copies a template instead of parsing (text-templates.ts). */
  readonly #templates = new TextTemplates();
  #reads: TurnBatch<string, string | undefined, StoredSession | null> | undefined;
  readonly #createTable: boolean;
  readonly #sql: Record<Statement, string>;
  readonly #names: string;
  readonly #indexPrefix: string;
  #ready: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @throws SessionConfigError when neither pool nor connectionString is given, a table or schema
   * name is not a plain identifier, an option is not one of PostgresStoreOptions, or pg is not
   * installed (`ERR_SESSIONKIT_MISSING_PEER`).
   */
  constructor(options: PostgresStoreOptions = {}) {
    refuseUnknownOptions("PostgresStore", options, POSTGRES_OPTIONS, POSTGRES_RENAMED);
    const table = sqlIdentifier("PostgresStore", "table", options.table ?? "koa_sessions");
    this.table = options.schema === undefined ? table : `${sqlIdentifier("PostgresStore", "schema", options.schema)}.${table}`;
    this.#indexPrefix = indexPrefixFor(`${options.schema ?? ""}${options.schema ? "_" : ""}${options.table ?? "koa_sessions"}`);
    this.#createTable = options.createTable ?? true;
    if (options.pool) {
      // A connection string where a pool belongs would otherwise fail only at the first request, as a 503.
      if (typeof (options.pool as Partial<Pool>).query !== "function") {
        throw new SessionConfigError(`PostgresStore({ pool }) needs a pg Pool (new pg.Pool(…)), got ${typeof options.pool === "string" ? "a string; pass it as { connectionString }" : typeof options.pool}`);
      }
      this.pool = options.pool;
      this.#ownsPool = false;
    } else if (typeof options.connectionString === "string") {
      refuseEmpty("PostgresStore", "connectionString", options.connectionString, '{ connectionString: "postgres://user@host:5432/db" } or { pool }');
      const pg = loadPg();
      /*
       * Failure policy for a pool we own: a connect that gets no answer fails after 5 s rather than
       * queueing forever, and a query with no answer after 10 s. Broken connections are dropped by the
       * pool and replaced on the next query, so the store recovers by itself when the server returns.
       * query_timeout only stops waiting on our side: the pool drops that connection and opens a new
       * one while the server goes on waiting. Behind a lock (LOCK TABLE, a migration) each request
       * then left one more server connection waiting, until the server refused every client
       * (max_connections). lock_timeout makes the server give up first, and the connection goes
       * back to the pool: server connections stay within the pool's max.
       */
      this.pool = new pg.Pool({
        connectionString: options.connectionString,
        connectionTimeoutMillis: 5000,
        query_timeout: 10_000,
        lock_timeout: 9000,
        ...options.poolOptions,
      });
      this.#ownsPool = true;
      // An idle client whose server went away emits "error" on the pool; unheard, it would crash the process.
      this.pool.on("error", (error) => debug("idle client error: %s", error.message));
    } else {
      throw new SessionConfigError('PostgresStore needs { pool } or { connectionString: "postgres://..." }');
    }
    // Prepared statement names are per connection and shared by every store on a pool: tie them to the table.
    this.#names = `sk_${createHash("sha1").update(this.table).digest("hex").slice(0, 12)}_`;
    const t = this.table;
    const meta = "user_id, created_at, last_seen_at, ip, user_agent";
    this.#sql = {
      get: `SELECT data FROM ${t} WHERE key = $1 AND expires_at > $2`,
      getMany: `SELECT key, data FROM ${t} WHERE key = ANY($1::text[]) AND expires_at > $2`,
      set: `INSERT INTO ${t} (key, data, expires_at, ${meta}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at,
        user_id = EXCLUDED.user_id, created_at = EXCLUDED.created_at, last_seen_at = EXCLUDED.last_seen_at,
        ip = EXCLUDED.ip, user_agent = EXCLUDED.user_agent`,
      destroy: `DELETE FROM ${t} WHERE key = $1`,
      // jsonb does the merge inside one statement, so the row lock makes parallel merges serialize.
      merge: `UPDATE ${t} SET data = ((data::jsonb - $3::text[]) || $4::jsonb)::text, expires_at = $5,
        user_id = $6, created_at = $7, last_seen_at = $8, ip = $9, user_agent = $10
        WHERE key = $1 AND expires_at > $2`,
      touch: `UPDATE ${t} SET data = (data::jsonb || jsonb_build_object('_sk',
        COALESCE(data::jsonb -> '_sk', '{}'::jsonb) || $3::jsonb) || $4::jsonb)::text,
        expires_at = $5, last_seen_at = COALESCE($6, last_seen_at) WHERE key = $1 AND expires_at > $2`,
      list: `SELECT key, expires_at, created_at, last_seen_at, ip, user_agent FROM ${t}
        WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC`,
      destroyUser: `DELETE FROM ${t} WHERE user_id = $1 AND NOT (key = ANY($2::text[]))`,
      prune: `DELETE FROM ${t} WHERE expires_at <= $1`,
    };
    this.#timer = startPruneTimer("PostgresStore", options.pruneIntervalMs, () => this.prune());
  }

  /**
   * Reads of one event-loop turn go out as one SELECT … WHERE key = ANY(…) of up to eight keys
   * (turn-batch.ts, as RedisStore's MGET): under load a query per read cost most of a read's CPU
   * (pg's message building, row parsing and promise per query) and a pool connection each.
   */
  get(key: string): Promise<StoredSession | null> {
    this.#reads ??= new TurnBatch(
      async (one) => (await this.#query<{ data: string }>("get", [one, Date.now()])).rows[0]?.data,
      async (many) => {
        const { rows } = await this.#query<{ key: string; data: string }>("getMany", [many, Date.now()]);
        const found = new Map(rows.map((row) => [row.key, row.data]));
        return many.map((each) => found.get(each));
      },
      (text, one) => this.#templates.parse(one, text),
    );
    return this.#reads.call(key);
  }

  async set(key: string, session: StoredSession, maxAge: MaxAge | undefined): Promise<void> {
    const now = Date.now();
    await this.#query("set", [key, serializeStored(session), now + ttlMs(maxAge), ...metaColumns(session, now)]);
  }

  /** Resolves whether a row was removed: false tells the middleware another request won. */
  async destroy(key: string): Promise<boolean> {
    const result = await this.#query("destroy", [key]);
    return (result.rowCount ?? 0) > 0;
  }

  async touch(key: string, session: StoredSession, maxAge: MaxAge | undefined): Promise<void> {
    const now = Date.now();
    const expire = session._expire === undefined ? {} : { _expire: session._expire };
    const lastSeen = session._sk?.lastSeenAt ?? null;
    const values = [key, now, JSON.stringify(session._sk ?? {}), JSON.stringify(expire), now + ttlMs(maxAge), lastSeen];
    await this.#jsonbOr("touch", values, key, maxAge, (stored) => applyTouch(stored, session));
  }

  async merge(key: string, changes: SessionChanges, maxAge: MaxAge | undefined): Promise<boolean> {
    const now = Date.now();
    const patch: Record<string, unknown> = {};
    const unset = [...changes.unset];
    for (const [name, value] of Object.entries(changes.set)) {
      if (!isDangerousKey(name)) patch[name] = value;
    }
    for (const [name, value] of Object.entries(changes.reserved)) {
      // A reserved field explicitly set to undefined is removed, as Object.assign + JSON would.
      if (value === undefined) unset.push(name);
      else patch[name] = value;
    }
    const merged: StoredSession = { _sk: changes.reserved._sk };
    const values = [key, now, unset, stringifyJson(patch), now + ttlMs(maxAge), ...metaColumns(merged, now)];
    return this.#jsonbOr("merge", values, key, maxAge, (stored) => {
      for (const name of unset) delete stored[name];
      Object.assign(stored, patch);
    });
  }

  async listByUser(userId: string): Promise<SessionListEntry[]> {
    const { rows } = await this.#query<SessionRow>("list", [userId, Date.now()]);
    return rows.map(entryFromRow);
  }

  async destroyByUser(userId: string, options: { except?: string | string[] } = {}): Promise<number> {
    const except = exceptKeys(options.except);
    const result = await this.#query("destroyUser", [userId, except]);
    return result.rowCount ?? 0;
  }

  /** Delete expired rows now. Never throws: a failed prune is retried at the next interval. */
  async prune(): Promise<number> {
    try {
      const result = await this.#query("prune", [Date.now()]);
      return result.rowCount ?? 0;
    } catch (error) {
      debug("prune failed: %s", (error as Error).message);
      return 0;
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#ownsPool) await this.pool.end();
  }

  #ensureTable(): Promise<void> {
    if (!this.#createTable) return Promise.resolve();
    this.#ready ??= this.pool.query(POSTGRES_SCHEMA_SQL(this.table, this.#indexPrefix)).then(
      () => undefined,
      (error: unknown) => {
        // Two processes creating the table at once: the loser sees a duplicate; the table exists.
        if (createdConcurrently(error)) return;
        // Forget the failure so the next call tries again (the server may just have been down).
        this.#ready = undefined;
        throw error;
      },
    );
    return this.#ready;
  }

  /**
   * Run the one-statement jsonb form of merge/touch. jsonb cannot hold "\u0000" (error 22P05) or a
   * lone UTF-16 surrogate such as "\udc00" (22P02), which JSON text can, and PostgreSQL's JSON parser recurses, so a value nested some tens of thousands of
   * levels deep hits its stack limit (54001); for such a session, fall back to read-modify-write
   * under a row lock, done in JS.
   */
  async #jsonbOr(statement: "merge" | "touch", values: unknown[], key: string, maxAge: MaxAge | undefined, change: (stored: StoredSession) => void) {
    try {
      return ((await this.#query(statement, values)).rowCount ?? 0) > 0;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== "22P05" && code !== "54001" && code !== "22P02") throw error;
    }
    debug("%s of …%s falls back to a locked read-modify-write: its data holds \\u0000, a lone surrogate or nesting too deep for jsonb", statement, key.slice(-6));
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const now = Date.now();
      const { rows } = await client.query<{ data: string }>(`SELECT data FROM ${this.table} WHERE key = $1 AND expires_at > $2 FOR UPDATE`, [key, now]);
      const stored = parseStored(rows[0]?.data);
      if (stored) {
        change(stored);
        await client.query(this.#sql.set, [key, stringifyJson(stored), now + ttlMs(maxAge), ...metaColumns(stored, now)]);
      }
      await client.query("COMMIT");
      return stored !== null;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async #query<Row extends QueryResultRow = QueryResultRow>(statement: Statement, values: unknown[]) {
    await this.#ensureTable();
    const config: QueryConfig = { name: this.#names + statement, text: this.#sql[statement], values };
    return this.pool.query<Row>(config);
  }
}

export default PostgresStore;
