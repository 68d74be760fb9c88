/**
 * The four built-in stores, each made throwaway for one test file: a unique Redis key prefix, a
 * unique PostgreSQL table, a temp SQLite file. `cleanup()` closes them and removes what they wrote.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { MemoryStore } from "../../src/stores/memory.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { RedisStore } from "../../src/stores/redis.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import type { SessionStore } from "../../src/stores/contract.js";
import { DATABASE_URL, REDIS_URL } from "./services.js";

export interface TestStore {
  name: string;
  up: boolean;
  /** A fresh store; `tag` keeps it apart from the file's other stores. */
  make: (tag: string) => SessionStore;
}

/** `namespace` is a short [a-z0-9_] label unique to the calling file and run. */
export function throwawayStores(namespace: string, services: { redis: boolean; postgres: boolean }) {
  const sqliteDir = mkdtempSync(join(tmpdir(), `sk-${namespace}-`));
  const cleanups: (() => Promise<void>)[] = [];
  const stores: TestStore[] = [
    { name: "MemoryStore", up: true, make: () => new MemoryStore() },
    {
      name: "RedisStore",
      up: services.redis,
      make: (tag) => {
        const keyPrefix = `sktest-${namespace}:${tag}:`;
        const store = new RedisStore({ url: REDIS_URL, keyPrefix });
        cleanups.push(async () => {
          const stale = await store.client.keys(`${keyPrefix}*`);
          if (stale.length > 0) await store.client.del(...stale);
          await store.close();
        });
        return store;
      },
    },
    {
      name: "PostgresStore",
      up: services.postgres,
      make: (tag) => {
        const table = `sk_${namespace}_${tag}`;
        const store = new PostgresStore({ connectionString: DATABASE_URL, table, pruneIntervalMs: false });
        cleanups.push(async () => {
          await store.close();
          const admin = new pg.Client({ connectionString: DATABASE_URL });
          await admin.connect();
          await admin.query(`DROP TABLE IF EXISTS "${table}"`);
          await admin.end();
        });
        return store;
      },
    },
    {
      name: "SqliteStore",
      up: true,
      make: (tag) => {
        const store = new SqliteStore({ path: join(sqliteDir, `${tag}.db`), pruneIntervalMs: false });
        cleanups.push(() => store.close());
        return store;
      },
    },
  ];
  async function cleanup(): Promise<void> {
    for (const run of cleanups.reverse()) await run();
    rmSync(sqliteDir, { recursive: true, force: true });
  }
  return { stores, cleanup };
}
