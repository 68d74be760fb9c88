/**
 * Real express-session stores on the real services, each throwaway: express-session's MemoryStore,
 * connect-redis (a unique key prefix), connect-pg-simple (a test-owned table) and
 * express-mysql-session on MariaDB (a test-owned table). `cleanup()` removes what they wrote.
 * `expiryOf` reads the expiry the store itself keeps, to prove it was computed from our maxAge.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { RedisStore as ConnectRedis } from "connect-redis";
import expressSession from "express-session";
import mysql from "mysql2/promise";
import pg from "pg";
import { createClient } from "redis";
import type { ConnectStoreLike } from "../../src/stores/connect.js";
import { DATABASE_URL, MARIADB_URL, REDIS_URL } from "./services.js";

// Neither ships types; their constructors are all these tests use.
const require = createRequire(import.meta.url);
type StoreClass = new (options: Record<string, unknown>) => ConnectStoreLike & { close?(): Promise<void>; onReady?(): Promise<void> };
const PgStore = (require("connect-pg-simple") as (session: unknown) => StoreClass)(expressSession);
const MySQLStore = (require("express-mysql-session") as (session: unknown) => StoreClass)(expressSession);

export interface ConnectHarness {
  connect: ConnectStoreLike;
  /** Everything the store holds for this harness, as text. */
  rawDump: () => Promise<string>;
  /** When the backing store will drop `sid` (ms since epoch), from its own bookkeeping. */
  expiryOf: (sid: string) => Promise<number | null>;
  cleanup: () => Promise<void>;
}

export interface ConnectBackend {
  name: string;
  service: "redis" | "postgres" | "mariadb" | undefined;
  /** The store has `all`, so connectStore can list and log out by user. */
  lists: boolean;
  make: () => Promise<ConnectHarness>;
}

const tag = () => randomBytes(4).toString("hex");

export const CONNECT_BACKENDS: ConnectBackend[] = [
  {
    name: "express-session MemoryStore",
    lists: true,
    service: undefined,
    make: async () => {
      const store = new expressSession.MemoryStore() as unknown as ConnectStoreLike & { sessions: Record<string, string> };
      return {
        connect: store,
        rawDump: async () => JSON.stringify(store.sessions),
        expiryOf: async (sid) => {
          const text = store.sessions[sid];
          return text === undefined ? null : new Date((JSON.parse(text) as { cookie: { expires: string } }).cookie.expires).getTime();
        },
        cleanup: async () => {},
      };
    },
  },
  {
    name: "connect-redis",
    lists: true,
    service: "redis",
    make: async () => {
      const prefix = `sktest-connect-${tag()}:`;
      const client = createClient({ url: REDIS_URL });
      await client.connect();
      const store = new ConnectRedis({ client, prefix });
      return {
        connect: store as unknown as ConnectStoreLike,
        rawDump: async () => {
          const keys = await client.keys(`${prefix}*`);
          const values = keys.length === 0 ? [] : await client.mGet(keys);
          return keys.map((key, i) => `${key} ${values[i] ?? ""}`).join("\n");
        },
        expiryOf: async (sid) => {
          const ttl = await client.pTTL(prefix + sid);
          return ttl < 0 ? null : Date.now() + ttl;
        },
        cleanup: async () => {
          const keys = await client.keys(`${prefix}*`);
          if (keys.length > 0) await client.del(keys);
          await client.quit();
        },
      };
    },
  },
  {
    name: "connect-pg-simple",
    lists: false,
    service: "postgres",
    make: async () => {
      // Our own table and index names: connect-pg-simple's table.sql always names its index
      // IDX_session_expire, which would collide with any other "session" table in the schema.
      const table = `sk_connect_${tag()}`;
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
      await pool.query(`CREATE TABLE "${table}" (sid varchar PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL)`);
      await pool.query(`CREATE INDEX "${table}_expire" ON "${table}" (expire)`);
      const store = new PgStore({ pool, tableName: table, createTableIfMissing: false, pruneSessionInterval: false });
      return {
        connect: store,
        rawDump: async () => JSON.stringify((await pool.query(`SELECT sid, sess::text AS sess FROM "${table}"`)).rows),
        expiryOf: async (sid) => {
          const { rows } = await pool.query<{ ms: string }>(`SELECT (extract(epoch FROM expire) * 1000)::bigint AS ms FROM "${table}" WHERE sid = $1`, [sid]);
          return rows[0] ? Number(rows[0].ms) : null;
        },
        cleanup: async () => {
          await pool.query(`DROP TABLE IF EXISTS "${table}"`);
          await pool.end();
        },
      };
    },
  },
  {
    name: "express-mysql-session (MariaDB)",
    lists: true,
    service: "mariadb",
    make: async () => {
      const table = `sk_connect_${tag()}`;
      const url = new URL(MARIADB_URL);
      const connection = { host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database: url.pathname.slice(1) };
      const store = new MySQLStore({ ...connection, clearExpired: false, createDatabaseTable: true, schema: { tableName: table } });
      await store.onReady?.();
      const admin = await mysql.createConnection(connection);
      return {
        connect: store,
        rawDump: async () => JSON.stringify((await admin.query(`SELECT * FROM \`${table}\``))[0]),
        expiryOf: async (sid) => {
          const [rows] = await admin.query(`SELECT expires FROM \`${table}\` WHERE session_id = ?`, [sid]);
          const row = (rows as { expires: number }[])[0];
          return row ? row.expires * 1000 : null;
        },
        cleanup: async () => {
          await admin.query(`DROP TABLE IF EXISTS \`${table}\``);
          await admin.end();
          await store.close?.();
        },
      };
    },
  },
];
