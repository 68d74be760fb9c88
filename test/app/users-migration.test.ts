/**
 * A users table created before accounts could be disabled (no disabled_at column) keeps working: the
 * repository adds the column on start, every user survives, and the disable flow works on it. SQLite
 * always; PostgreSQL in a throwaway schema when the service answers.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresUserRepository } from "../../app/users/postgres.js";
import { SqliteUserRepository } from "../../app/users/sqlite.js";
import { hashPassword } from "../../src/auth/index.js";
import { DATABASE_URL, requireService } from "../helpers/services.js";
import { loginJson, startTestApp } from "./helpers.js";

const postgresUp = await requireService("postgres");

/** The app_users table exactly as the first release created it. */
const OLD_SQLITE_TABLE = `CREATE TABLE app_users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'user',
  created_at    INTEGER NOT NULL
)`;
const OLD_POSTGRES_TABLE = OLD_SQLITE_TABLE.replace("INTEGER", "BIGINT");
const CREATED_AT = Date.parse("2025-01-01T00:00:00Z");
const PASSWORD = "an old user's password";

describe("users table without disabled_at (SQLite)", () => {
  it("adds the column on start, keeps every user, and disabling works on the old database file", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "sk-app-migrate-"));
    const file = path.join(dataDir, "app.db");
    const hash = await hashPassword(PASSWORD);
    const old = new Database(file);
    old.exec(OLD_SQLITE_TABLE);
    const insert = old.prepare("INSERT INTO app_users (id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)");
    insert.run("old-user", "old@example.com", hash, "user", CREATED_AT);
    insert.run("old-admin", "old-admin@example.com", hash, "admin", CREATED_AT);
    old.close();

    const t = await startTestApp({ DATA_DIR: dataDir, SESSION_STORE: "sqlite" });
    try {
      const check = new Database(file);
      const columns = check.prepare<[], { name: string }>("PRAGMA table_info(app_users)").all().map((column) => column.name);
      check.close();
      expect(columns).toEqual(["id", "email", "password_hash", "role", "created_at", "disabled_at"]);
      expect(await t.handle.users.count()).toBe(2);
      expect(await t.handle.users.findByEmail("old@example.com")).toEqual({
        id: "old-user",
        email: "old@example.com",
        passwordHash: hash,
        role: "user",
        createdAt: CREATED_AT,
        disabledAt: null,
      });

      const user = t.agent();
      const admin = t.agent();
      expect((await loginJson(user, "old@example.com", PASSWORD)).status).toBe(200);
      expect((await loginJson(admin, "old-admin@example.com", PASSWORD)).status).toBe(200);
      const res = await admin.post("/admin/users/disable").set("Accept", "application/json").send({ email: "old@example.com" });
      expect(res.body).toEqual({ ok: true, revoked: 1 });
      expect((await user.get("/dashboard").set("Accept", "application/json")).status).toBe(401);
      expect((await loginJson(t.agent(), "old@example.com", PASSWORD)).status).toBe(401);
    } finally {
      await t.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("a second repository on the migrated database (the CLI beside the server) changes nothing", async () => {
    const database = new Database(":memory:");
    try {
      database.exec(OLD_SQLITE_TABLE);
      const first = new SqliteUserRepository(database);
      const created = await first.create({ email: "twice@example.com", passwordHash: "x" });
      await first.setDisabled(created.id, true);
      const second = new SqliteUserRepository(database);
      const columns = database.prepare<[], { name: string }>("PRAGMA table_info(app_users)").all();
      expect(columns.filter((column) => column.name === "disabled_at")).toHaveLength(1);
      const disabledAt = (await second.findById(created.id))?.disabledAt;
      expect(disabledAt).toEqual(expect.any(Number));
      // Disabling again keeps the first time; enabling clears it.
      await second.setDisabled(created.id, true);
      expect((await second.findById(created.id))?.disabledAt).toBe(disabledAt);
      await second.setDisabled(created.id, false);
      expect((await first.findById(created.id))?.disabledAt).toBeNull();
    } finally {
      database.close();
    }
  });
});

describe.skipIf(!postgresUp)("users table without disabled_at (PostgreSQL, throwaway schema)", () => {
  const schema = `sk_migrate_${randomBytes(6).toString("hex")}`;
  let admin: pg.Pool;
  let pool: pg.Pool;
  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    await admin.query(`CREATE SCHEMA ${schema}`);
    // Every connection of this pool resolves app_users to the throwaway schema.
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4, options: `-c search_path=${schema}` });
    await pool.query(OLD_POSTGRES_TABLE);
    await pool.query("INSERT INTO app_users (id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)", [
      "old-user",
      "old@example.com",
      "hash",
      "user",
      CREATED_AT,
    ]);
  });
  afterAll(async () => {
    await pool?.end();
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
  });

  it("adds the column on first use, keeps the users, and two repositories starting together both succeed", async () => {
    const repositories = [new PostgresUserRepository(pool), new PostgresUserRepository(pool)];
    // Both migrate at once, as two app instances starting together would.
    const [first, second] = await Promise.all(repositories.map((repository) => repository.findByEmail("old@example.com")));
    const expected = { id: "old-user", email: "old@example.com", passwordHash: "hash", role: "user", createdAt: CREATED_AT, disabledAt: null };
    expect(first).toEqual(expected);
    expect(second).toEqual(expected);
    const column = await pool.query<{ data_type: string }>(
      "SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'app_users' AND column_name = 'disabled_at'",
      [schema],
    );
    expect(column.rows).toEqual([{ data_type: "bigint" }]);
    expect(await repositories[0]?.count()).toBe(1);

    await repositories[0]?.setDisabled("old-user", true);
    expect((await repositories[1]?.findById("old-user"))?.disabledAt).toEqual(expect.any(Number));
    await repositories[1]?.setDisabled("old-user", false);
    expect((await repositories[0]?.findById("old-user"))?.disabledAt).toBeNull();
  });
});
