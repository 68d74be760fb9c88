import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { POSTGRES_SCHEMA_SQL, PostgresStore } from "../../src/stores/postgres.js";
import { DATABASE_URL, requireService } from "../helpers/services.js";
import { runStoreContract } from "./contract.js";

const up = await requireService("postgres");

describe.skipIf(!up)("PostgresStore", () => {
  runStoreContract("PostgresStore", async () => {
    const table = `sk_test_${randomBytes(4).toString("hex")}`;
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    const store = new PostgresStore({ pool, table, pruneIntervalMs: false });
    return {
      store,
      rawDump: async () => (await pool.query<{ row: string }>(`SELECT t::text AS row FROM "${table}" t`)).rows.map((r) => r.row).join("\n"),
      cleanup: async () => {
        await store.close();
        await pool.query(`DROP TABLE IF EXISTS "${table}"`);
        await pool.end();
      },
    };
  });

  it("a table locked for long never makes the store hold more server connections than its pool's max", async () => {
    const table = `sk_test_${randomBytes(4).toString("hex")}`;
    const application_name = `sk-lock-${randomBytes(4).toString("hex")}`;
    const connections = async (admin: pg.Pool) =>
      Number((await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", [application_name])).rows[0].n);
    // The default policy, scaled down so the test takes seconds: the server gives up on the lock
    // (lock_timeout) before the client gives up on the query (query_timeout).
    const store = new PostgresStore({ connectionString: DATABASE_URL, table, pruneIntervalMs: false, poolOptions: { application_name, max: 2, query_timeout: 1000, lock_timeout: 900 } });
    const defaults = new PostgresStore({ connectionString: DATABASE_URL, table, pruneIntervalMs: false, createTable: false });
    const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    const locker = await admin.connect();
    try {
      expect((await defaults.pool.query("SHOW lock_timeout")).rows[0].lock_timeout).toBe("9s");
      await store.set("sk:a", { n: 1 }, 60_000);
      await locker.query("BEGIN");
      await locker.query(`LOCK TABLE "${table}" IN ACCESS EXCLUSIVE MODE`);
      for (let i = 0; i < 6; i++) {
        await expect(store.set(`sk:${i}`, { n: i }, 60_000)).rejects.toThrow(/lock timeout/);
      }
      expect(await connections(admin)).toBeLessThanOrEqual(2);
      await locker.query("ROLLBACK");
      await store.set("sk:b", { n: 2 }, 60_000);
      expect(await store.get("sk:b")).toMatchObject({ n: 2 });
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      locker.release();
      await store.close();
      await defaults.close();
      await admin.query(`DROP TABLE IF EXISTS "${table}"`);
      await admin.end();
    }
  });

  it("refuses an empty connectionString (pg would fall back to PGHOST or the local socket)", () => {
    for (const connectionString of ["", " "]) {
      expect(() => new PostgresStore({ connectionString })).toThrow(/PostgresStore got an empty connectionString \(an unset or empty environment variable\?\)/);
    }
  });

  it("rejects table and schema names that are not plain identifiers", () => {
    expect(() => new PostgresStore({ connectionString: DATABASE_URL, table: 'x"; DROP TABLE y; --' })).toThrow(TypeError);
    expect(() => new PostgresStore({ connectionString: DATABASE_URL, schema: "1bad" })).toThrow(/plain SQL identifier/);
  });

  it("prunes expired rows, uses a schema, and owns (then ends) a pool it created", async () => {
    const schema = `sk_schema_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Pool({ connectionString: DATABASE_URL });
    await admin.query(`CREATE SCHEMA "${schema}"`);
    const store = new PostgresStore({ connectionString: DATABASE_URL, schema, table: "sessions", pruneIntervalMs: false });
    try {
      await store.set("sk:short", { a: 1 }, 50);
      await store.set("sk:long", { a: 2 }, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await store.prune()).toBe(1);
      const { rows } = await admin.query<{ key: string }>(`SELECT key FROM "${schema}".sessions`);
      expect(rows.map((row) => row.key)).toEqual(["sk:long"]);
    } finally {
      await store.close();
      expect(store.pool.ending).toBe(true);
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.end();
    }
  });

  it("two tables in one schema each get their indexes (POSTGRES_SCHEMA_SQL and long table names)", async () => {
    const schema = `sk_idx_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Pool({ connectionString: DATABASE_URL });
    await admin.query(`CREATE SCHEMA "${schema}"`);
    const long = "tenant_sessions_for_region_europe_west_and_more";
    const stores = [`${long}_1`, `${long}_2`].map((table) => new PostgresStore({ pool: admin, schema, table, pruneIntervalMs: false }));
    try {
      for (const table of ["app1_sessions", "app2_sessions"]) await admin.query(POSTGRES_SCHEMA_SQL(`${schema}.${table}`));
      for (const store of stores) await store.set("sk:x", { a: 1 }, 60_000);
      const { rows } = await admin.query<{ tablename: string; n: string }>(
        "SELECT tablename, count(*) AS n FROM pg_indexes WHERE schemaname = $1 GROUP BY tablename ORDER BY tablename",
        [schema],
      );
      // Each: the primary key, expires_at and user_id.
      expect(rows).toEqual([
        { tablename: "app1_sessions", n: "3" },
        { tablename: "app2_sessions", n: "3" },
        { tablename: `${long}_1`, n: "3" },
        { tablename: `${long}_2`, n: "3" },
      ]);
    } finally {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.end();
    }
  });

  /** A store on a fresh table of its own and its own pool; both go afterwards. */
  async function withTable(run: (store: PostgresStore, pool: pg.Pool, table: string) => Promise<void>): Promise<void> {
    const table = `sk_test_${randomBytes(4).toString("hex")}`;
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    const store = new PostgresStore({ pool, table, pruneIntervalMs: false });
    try {
      await run(store, pool, table);
    } finally {
      await store.close();
      await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    }
  }

  it("reads of one turn go out as one SELECT of up to eight keys, each caller getting its own session", () =>
    withTable(async (store, pool, table) => {
      const sent: string[] = [];
      for (let i = 0; i < 10; i++) await store.set(`sk:${i}`, { n: i }, 60_000);
      await store.set("sk:old", { n: -1 }, 60_000);
      await pool.query(`UPDATE "${table}" SET expires_at = 1 WHERE key = 'sk:old'`);
      const query = pool.query.bind(pool);
      pool.query = ((config: { text?: string }, ...rest: unknown[]) => {
        sent.push(typeof config === "string" ? config : (config.text ?? ""));
        return (query as (...args: unknown[]) => unknown)(config, ...rest);
      }) as typeof pool.query;
      // 12 reads in one turn: 10 live (one of them twice), an expired and a missing one.
      const keys = [...Array.from({ length: 10 }, (_, i) => `sk:${i}`), "sk:3", "sk:old", "sk:none"];
      const results = await Promise.all(keys.map((key) => store.get(key)));
      expect(results.map((result) => (result ? result.n : null))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, null, null]);
      // Eight to a query, the rest of the turn at its end: two SELECTs, not thirteen.
      expect(sent).toHaveLength(2);
      expect(sent.every((text) => /WHERE key = ANY\(\$1::text\[\]\)/.test(text))).toBe(true);
      // A lone read is the single-key SELECT.
      sent.length = 0;
      expect(await store.get("sk:7")).toMatchObject({ n: 7 });
      expect(sent).toEqual([expect.stringMatching(/WHERE key = \$1 AND/)]);
    }));

  it("a batched read that fails rejects every read of the batch", () =>
    withTable(async (store, pool, table) => {
      await store.set("sk:a", { n: 1 }, 60_000);
      await pool.query(`ALTER TABLE "${table}" RENAME COLUMN data TO gone`);
      const reads = ["sk:a", "sk:b", "sk:c"].map((key) => store.get(key));
      for (const read of reads) await expect(read).rejects.toThrow(/data/);
    }));

  it("with createTable: false it never creates the table", async () => {
    const table = `sk_absent_${randomBytes(4).toString("hex")}`;
    const store = new PostgresStore({ connectionString: DATABASE_URL, table, createTable: false, pruneIntervalMs: false });
    await expect(store.get("sk:x")).rejects.toThrow(/does not exist/);
    await store.close();
  });
});
