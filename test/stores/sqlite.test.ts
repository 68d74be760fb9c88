import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { runStoreContract } from "./contract.js";

const ROOT = resolve(import.meta.dirname, "../..");

runStoreContract("SqliteStore (file)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sk-sqlite-"));
  const path = join(dir, "sessions.db");
  const store = new SqliteStore({ path, table: "sessions", pruneIntervalMs: false });
  return {
    store,
    // Rows as text plus the raw bytes of the database file and its write-ahead log.
    rawDump: async () => {
      const rows = JSON.stringify(store.database.prepare("SELECT * FROM sessions").all());
      const files = [path, `${path}-wal`].filter(existsSync).map((file) => readFileSync(file).toString("latin1"));
      return [rows, ...files].join("\n");
    },
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("SqliteStore", () => {
  it("opens its file in WAL mode and closes only a database it opened", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sk-sqlite-"));
    const own = new SqliteStore({ path: join(dir, "a.db"), pruneIntervalMs: false });
    expect(own.database.pragma("journal_mode", { simple: true })).toBe("wal");
    await own.close();
    expect(own.database.open).toBe(false);

    const database = new Database(":memory:");
    const shared = new SqliteStore({ database, table: "t1" });
    await shared.set("sk:a", { a: 1 }, 60_000);
    await shared.close();
    expect(database.open).toBe(true);
    database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses an empty path, and a path it can't open, with the path and what to check", () => {
    // better-sqlite3 would take "" as a temporary database, deleted on close.
    for (const path of ["", " "]) expect(() => new SqliteStore({ path })).toThrow(/SqliteStore got an empty path \(an unset or empty environment variable\?\)/);
    const missing = join(tmpdir(), `sk-no-such-dir-${process.pid}`, "sessions.db");
    let thrown: unknown;
    try {
      new SqliteStore({ path: missing, pruneIntervalMs: false });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ name: "SessionConfigError", code: "ERR_SESSIONKIT_CONFIG" });
    expect((thrown as Error).message).toContain(`SqliteStore could not open ${JSON.stringify(missing)}: `);
    expect((thrown as Error).message).toMatch(/check that its directory exists and this process may write there$/);
    const memory = new SqliteStore({ path: ":memory:", pruneIntervalMs: false });
    void memory.close();
  });

  it("a file that opens but is no usable session database is a config error naming it, not the driver's SqliteError", () => {
    const dir = mkdtempSync(join(tmpdir(), "sk-sqlite-bad-"));
    const caught = (make: () => unknown): Error & { code?: string; cause?: unknown } => {
      try {
        make();
      } catch (error) {
        return error as Error & { code?: string };
      }
      throw new Error("expected a throw");
    };
    try {
      const text = join(dir, "notes.txt");
      writeFileSync(text, "not a database, just text that is long enough to be read as a header...".repeat(20));
      const notADatabase = caught(() => new SqliteStore({ path: text, pruneIntervalMs: false }));
      expect(notADatabase).toMatchObject({ name: "SessionConfigError", code: "ERR_SESSIONKIT_CONFIG" });
      expect(notADatabase.message).toContain(`in ${JSON.stringify(text)}: file is not a database; check that the file is a SQLite database`);
      expect((notADatabase.cause as Error).name).toBe("SqliteError");

      // Someone else's table of the same name (other columns), in a database the app passes in.
      const database = new Database(join(dir, "app.db"));
      database.exec("CREATE TABLE koa_sessions (id INTEGER PRIMARY KEY, payload TEXT)");
      const otherTable = caught(() => new SqliteStore({ database, pruneIntervalMs: false }));
      expect(otherTable).toMatchObject({ code: "ERR_SESSIONKIT_CONFIG" });
      expect(otherTable.message).toMatch(/^koa-sessionkit: SqliteStore could not set up table "koa_sessions" in the given database: .*no other table of that name has different columns/);
      expect(database.open).toBe(true); // not ours to close
      database.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a write lock held long by another connection blocks the process once, not once per write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sk-sqlite-lock-"));
    const file = join(dir, "sessions.db");
    const store = new SqliteStore({ path: file, pruneIntervalMs: false, busyTimeout: 300 });
    const other = new Database(file);
    const timed = async (work: () => Promise<unknown>) => {
      const started = performance.now();
      const outcome = await work().then(
        () => "ok",
        (error: { code?: string }) => error.code,
      );
      return { outcome, ms: performance.now() - started };
    };
    try {
      await store.set("sk:a", { n: 1 }, 60_000);
      other.exec("BEGIN IMMEDIATE"); // a backup, a migration, a stuck transaction
      const first = await timed(() => store.set("sk:b", { n: 1 }, 60_000));
      expect(first.outcome).toBe("SQLITE_BUSY");
      expect(first.ms).toBeGreaterThanOrEqual(250); // waited its busyTimeout
      // Every later write fails at once: ten of them block the process far less than one wait.
      const later = await timed(async () => {
        for (let i = 0; i < 10; i++) await store.merge("sk:a", { set: { n: i }, unset: [], reserved: {} }, 60_000).catch(() => {});
      });
      expect(later.ms).toBeLessThan(250);
      expect((await timed(() => store.destroy("sk:a"))).outcome).toBe("SQLITE_BUSY");
      // Reads are not blocked by the writer (WAL).
      expect(await store.get("sk:a")).toMatchObject({ n: 1 });
      other.exec("COMMIT");
      // The lock is gone: writes work, and wait again for short contention.
      expect((await timed(() => store.set("sk:b", { n: 2 }, 60_000))).outcome).toBe("ok");
      expect(store.database.pragma("busy_timeout", { simple: true })).toBe(300);
      expect(await store.get("sk:b")).toMatchObject({ n: 2 });
    } finally {
      other.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("two processes writing one file at the same time never fail with SQLITE_BUSY (merge takes the write lock up front)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sk-sqlite-2p-"));
    const file = join(dir, "sessions.db");
    try {
      await new SqliteStore({ path: file, pruneIntervalMs: false }).close(); // create the table once
      const writer = (prefix: string) =>
        new Promise<{ writes: number; errorCount: number; errors: string[] }>((resolve, reject) => {
          const child = spawn(process.execPath, ["--import", "tsx", "test/stores/fixtures/sqlite-writer.ts", file, prefix, "1500"], { cwd: ROOT });
          let out = "";
          let err = "";
          child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
          child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
          child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as never) : reject(new Error(`writer exited ${code}: ${err}`))));
        });
      const results = await Promise.all([writer("a:"), writer("b:")]);
      for (const result of results) {
        expect(result.errors).toEqual([]);
        expect(result.writes).toBeGreaterThan(100);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it("prunes expired rows and rejects bad table names", async () => {
    const store = new SqliteStore({ path: ":memory:", pruneIntervalMs: false });
    await store.set("sk:short", { a: 1 }, 20);
    await store.set("sk:long", { a: 1 }, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.prune()).toBe(1);
    await store.close();
    expect(() => new SqliteStore({ path: ":memory:", table: "bad name" })).toThrow(/plain SQL identifier/);
  });
});
