/**
 * One email normaliser everywhere (NFKC, trim, lower case): an address registered composed
 * ("jürgen@exämple.de") logs in typed decomposed, with capitals or spaces, and the reverse; the
 * throttle counts both spellings as one account; rows stored in the old form (trim + lower case
 * only) are migrated on start, and a row whose new form another account holds is left alone.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresUserRepository } from "../../app/users/postgres.js";
import { normalizeEmail } from "../../app/users/repository.js";
import { SqliteUserRepository } from "../../app/users/sqlite.js";
import { hashPassword, normalizeEmail as throttleKeyEmail } from "../../src/auth/index.js";
import { DATABASE_URL, requireService } from "../helpers/services.js";
import { loginJson, startTestApp, type TestApp } from "./helpers.js";

const COMPOSED = "j\u00fcrgen@ex\u00e4mple.de";
const DECOMPOSED = "ju\u0308rgen@exa\u0308mple.de";
const PASSWORD = "correct horse battery";

it("the app's normaliser is the throttle's: NFKC, trim, lower case", () => {
  expect(normalizeEmail).toBe(throttleKeyEmail);
  for (const typed of [COMPOSED, DECOMPOSED, ` ${DECOMPOSED.toUpperCase()} `, "J\u00dcRGEN@EX\u00c4MPLE.DE"]) expect(normalizeEmail(typed)).toBe(COMPOSED);
  // Compatibility forms (full-width letters) are the same mailbox too.
  expect(normalizeEmail("\uff41lice@example.com")).toBe("alice@example.com");
});

describe("login with either Unicode spelling", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ SESSION_STORE: "sqlite" });
  });
  afterAll(async () => t?.close());

  it("registered composed, typed decomposed (and the other way round)", async () => {
    await t.addUser(COMPOSED, PASSWORD);
    expect((await loginJson(t.agent(), DECOMPOSED, PASSWORD)).status).toBe(200);
    expect((await loginJson(t.agent(), ` ${DECOMPOSED.toUpperCase()} `, PASSWORD)).status).toBe(200);
    await expect(t.addUser(DECOMPOSED, PASSWORD)).rejects.toThrow(/already exists/);
  });

  it("the throttle counts both spellings as one account", async () => {
    const email = `m\u00fcller-${randomBytes(3).toString("hex")}@example.com`;
    await t.addUser(email, PASSWORD);
    for (let i = 0; i < 10; i++) {
      const typed = i % 2 ? email.normalize("NFD") : email.toUpperCase();
      expect((await loginJson(t.agent(), typed, "wrong password")).status).toBe(401);
    }
    expect((await loginJson(t.agent(), email, PASSWORD)).status).toBe(429);
  });
});

/** The users table as the previous release left it: emails trimmed and lower-cased, not NFKC. */
const OLD_ROWS = [
  ["old-decomposed", DECOMPOSED],
  ["old-ascii", "plain@example.com"],
  // Two accounts the old form told apart: the composed one keeps its email, the other is left alone.
  ["twin-composed", "z\u00e9ro@example.com"],
  ["twin-decomposed", "ze\u0301ro@example.com"],
] as const;

describe("migration of emails stored in the old form (SQLite)", () => {
  it("brings them to NFKC on start, leaves a conflicting twin as it was, and the user logs in", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "sk-email-migrate-"));
    try {
      const t0 = await startTestApp({ DATA_DIR: dataDir, SESSION_STORE: "sqlite" });
      await t0.close().catch(() => undefined);
      const hash = await hashPassword(PASSWORD);
      const file = path.join(dataDir, "app.db");
      const old = new Database(file);
      const insert = old.prepare("INSERT INTO app_users (id, email, password_hash, role, created_at) VALUES (?, ?, ?, 'user', 0)");
      for (const [id, email] of OLD_ROWS) insert.run(id, email, hash);
      old.close();

      const t = await startTestApp({ DATA_DIR: dataDir, SESSION_STORE: "sqlite" });
      try {
        expect((await t.handle.users.findById("old-decomposed"))?.email).toBe(COMPOSED);
        expect((await t.handle.users.findById("old-ascii"))?.email).toBe("plain@example.com");
        expect((await t.handle.users.findById("twin-composed"))?.email).toBe("z\u00e9ro@example.com");
        expect((await t.handle.users.findById("twin-decomposed"))?.email).toBe("ze\u0301ro@example.com");
        expect(await t.handle.users.count()).toBe(4);
        expect((await loginJson(t.agent(), DECOMPOSED, PASSWORD)).status).toBe(200);
        expect((await loginJson(t.agent(), COMPOSED, PASSWORD)).status).toBe(200);
      } finally {
        await t.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("a repository on an in-memory database migrates the same way", async () => {
    const database = new Database(":memory:");
    try {
      new SqliteUserRepository(database);
      const insert = database.prepare("INSERT INTO app_users (id, email, password_hash, role, created_at) VALUES (?, ?, 'x', 'user', 0)");
      for (const [id, email] of OLD_ROWS) insert.run(id, email);
      const repository = new SqliteUserRepository(database);
      expect((await repository.findByEmail(DECOMPOSED))?.id).toBe("old-decomposed");
      expect((await repository.findByEmail("ze\u0301ro@example.com"))?.id).toBe("twin-composed");
    } finally {
      database.close();
    }
  });
});

const postgresUp = await requireService("postgres");

describe.skipIf(!postgresUp)("migration of emails stored in the old form (PostgreSQL, throwaway schema)", () => {
  const schema = `sk_email_${randomBytes(6).toString("hex")}`;
  let admin: pg.Pool;
  let pool: pg.Pool;
  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    await admin.query(`CREATE SCHEMA ${schema}`);
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4, options: `-c search_path=${schema}` });
    await new PostgresUserRepository(pool).count();
    for (const [id, email] of OLD_ROWS) {
      await pool.query("INSERT INTO app_users (id, email, password_hash, role, created_at) VALUES ($1, $2, 'x', 'user', 0)", [id, email]);
    }
  });
  afterAll(async () => {
    await pool?.end();
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
  });

  it("brings them to NFKC on first use; a conflicting twin stays as it was", async () => {
    const repository = new PostgresUserRepository(pool);
    expect((await repository.findByEmail(DECOMPOSED))?.id).toBe("old-decomposed");
    expect((await repository.findById("old-decomposed"))?.email).toBe(COMPOSED);
    expect((await repository.findById("twin-decomposed"))?.email).toBe("ze\u0301ro@example.com");
    expect(await repository.count()).toBe(4);
  });
});
