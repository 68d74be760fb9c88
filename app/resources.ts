/**
 * What the app opens from its configuration: the user repository, the session store and where the
 * login throttle keeps its counters. One close() releases all.
 *
 * - users: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR/app.db.
 * - sessions: SESSION_STORE (sqlite shares DATA_DIR/app.db with the users; postgres shares the pool).
 * - login throttle: with the sessions in Redis or PostgreSQL, there (shared by every instance);
 *   otherwise in the users' database (PostgreSQL, or SQLite in DATA_DIR/app.db), so a lockout survives
 *   a restart even with SESSION_STORE=memory, which forgets only the sessions.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import type { SessionStore } from "../src/index.js";
import { MemoryStore } from "../src/stores/memory.js";
import { PostgresStore } from "../src/stores/postgres.js";
import { RedisStore } from "../src/stores/redis.js";
import { SqliteStore } from "../src/stores/sqlite.js";
import type { AppConfig } from "./config.js";
import { PostgresUserRepository } from "./users/postgres.js";
import type { UserRepository } from "./users/repository.js";
import { SqliteUserRepository } from "./users/sqlite.js";
import { guardUsers } from "./users/unavailable.js";

export interface Resources {
  users: UserRepository;
  store: SessionStore;
  /** Where the login throttle keeps its counters, so limits hold across processes and restarts. */
  throttleBacking: { redis?: RedisStore["client"]; pg?: pg.Pool; sqlite?: Database.Database };
  close(): Promise<void>;
}

/** Lazily opened shared handles, so nothing is opened that the configuration does not use. */
class Handles {
  #sqlite: Database.Database | undefined;
  #pool: pg.Pool | undefined;

  constructor(readonly config: AppConfig) {}

  sqlite(): Database.Database {
    if (!this.#sqlite) {
      fs.mkdirSync(this.config.dataDir, { recursive: true, mode: 0o700 });
      const file = path.join(this.config.dataDir, "app.db");
      // Password hashes live here: readable by the app's user only (SQLite copies the mode to -wal/-shm).
      fs.closeSync(fs.openSync(file, "a", 0o600));
      this.#sqlite = new Database(file);
      // WAL: the CLI (user:add) can write while the server reads.
      this.#sqlite.pragma("journal_mode = WAL");
      this.#sqlite.pragma("synchronous = NORMAL");
      // A wait for the write lock blocks the whole process (better-sqlite3 is synchronous): 1 s, not
      // the driver's 5 s. The session store stops waiting while a long lock lasts (sqlite-lock.ts).
      this.#sqlite.pragma("busy_timeout = 1000");
    }
    return this.#sqlite;
  }

  pool(): pg.Pool {
    if (!this.#pool) {
      this.#pool = new pg.Pool({ connectionString: this.config.databaseUrl, max: 10, connectionTimeoutMillis: 5000 });
      // An idle client losing its connection must not crash the process; the pool replaces it.
      this.#pool.on("error", () => {});
    }
    return this.#pool;
  }

  async close(): Promise<void> {
    if (this.#pool) await this.#pool.end();
    if (this.#sqlite?.open) this.#sqlite.close();
  }
}

export function openUsers(config: AppConfig): { users: UserRepository; close(): Promise<void> } {
  const handles = new Handles(config);
  const users = createUserRepository(config, handles);
  return {
    users,
    close: async () => {
      await users.close();
      await handles.close();
    },
  };
}

function createUserRepository(config: AppConfig, handles: Handles): UserRepository {
  return guardUsers(config.databaseUrl ? new PostgresUserRepository(handles.pool()) : new SqliteUserRepository(handles.sqlite()));
}

export function openResources(config: AppConfig): Resources {
  const handles = new Handles(config);
  const users = createUserRepository(config, handles);
  let store: SessionStore;
  const throttleBacking: Resources["throttleBacking"] = {};
  let closeStore: () => Promise<void>;
  switch (config.sessionStore) {
    case "memory": {
      const memory = new MemoryStore();
      store = memory;
      closeStore = () => memory.close();
      break;
    }
    case "sqlite": {
      const sqlite = new SqliteStore({ database: handles.sqlite(), ...(config.sessionPrune ? {} : { pruneIntervalMs: false }) });
      store = sqlite;
      closeStore = () => sqlite.close();
      break;
    }
    case "redis": {
      const where = config.redisSentinel ?? { url: config.redisUrl as string };
      const redis = new RedisStore({ ...where, keyPrefix: "app:sess:" });
      store = redis;
      throttleBacking.redis = redis.client;
      closeStore = () => redis.close();
      break;
    }
    case "postgres": {
      const pool = handles.pool();
      // SESSION_PRUNE=false on all but one instance: one DELETE of expired rows every 10 minutes, not one per instance.
      const postgres = new PostgresStore({ pool, table: "app_sessions", ...(config.sessionPrune ? {} : { pruneIntervalMs: false }) });
      store = postgres;
      throttleBacking.pg = pool;
      closeStore = () => postgres.close();
      break;
    }
  }
  if (!throttleBacking.redis && !throttleBacking.pg) {
    if (config.databaseUrl) throttleBacking.pg = handles.pool();
    else throttleBacking.sqlite = handles.sqlite();
  }
  let closing: Promise<void> | undefined;
  return {
    users,
    store,
    throttleBacking,
    close() {
      closing ??= (async () => {
        await closeStore();
        await users.close();
        await handles.close();
      })();
      return closing;
    },
  };
}
