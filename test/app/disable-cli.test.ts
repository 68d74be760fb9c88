/**
 * `npm run user:disable` / `npm run user:enable` as processes, against the DATA_DIR of a running app
 * with SQLite sessions: the account is disabled, its sessions are deleted from the SQLite store, and
 * the exit codes follow user:add's (0 done, 1 configuration, 2 arguments, 3 no such user).
 */
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cookieHeader, loginJson, startTestApp, type TestApp } from "./helpers.js";
import { run } from "./process.js";

const DISABLE = "app/cli/user-disable.ts";
const ENABLE = "app/cli/user-enable.ts";

describe("user:disable / user:enable CLI (SQLite, server running)", () => {
  let t: TestApp;
  let db: Database.Database;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await startTestApp({ SESSION_STORE: "sqlite" });
    env = { DATA_DIR: t.dataDir, SESSION_STORE: "sqlite" };
    // A second connection, like an operator's sqlite3 shell, to look into the session table.
    db = new Database(path.join(t.dataDir, "app.db"));
  });
  afterAll(async () => {
    db?.close();
    await t?.close();
  });

  const storedSessions = (userId: string): number =>
    (db.prepare("SELECT COUNT(*) AS n FROM koa_sessions WHERE user_id = ?").get(userId) as { n: number }).n;
  const dashboard = (cookie: string) => t.http().get("/dashboard").set("Accept", "application/json").set("Cookie", cookie);

  it("user:disable refuses the login and deletes the user's sessions from the store; user:enable lets them log in again", async () => {
    const user = await t.addUser();
    const bystander = await t.addUser();
    const first = cookieHeader(await loginJson(t.http(), user.email, user.password));
    const second = cookieHeader(await loginJson(t.http(), user.email, user.password));
    const other = cookieHeader(await loginJson(t.http(), bystander.email, bystander.password));
    expect(storedSessions(user.id)).toBe(2);

    const disabled = await run(DISABLE, ["--email", ` ${user.email.toUpperCase()} `], env);
    expect(disabled.stderr).toBe("");
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toBe(`Disabled ${user.email}; logins are refused and 2 sessions ended.\n`);
    expect(storedSessions(user.id)).toBe(0);
    expect(storedSessions(bystander.id)).toBe(1);
    expect((await t.handle.users.findById(user.id))?.disabledAt).toEqual(expect.any(Number));

    expect((await dashboard(first)).status).toBe(401);
    const refused = await loginJson(t.agent(), user.email, user.password);
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ error: "Invalid credentials" });
    expect((await dashboard(other)).status).toBe(200);

    const enabled = await run(ENABLE, ["--email", user.email], env);
    expect(enabled.code).toBe(0);
    expect(enabled.stdout).toBe(`Enabled ${user.email}: they can log in again.\n`);
    expect((await t.handle.users.findById(user.id))?.disabledAt).toBeNull();
    // Untouched since the disable, yet gone: the CLI deleted it rather than the server refusing it.
    expect((await dashboard(second)).status).toBe(401);
    expect((await loginJson(t.agent(), user.email, user.password)).status).toBe(200);

    const again = await run(ENABLE, ["--email", user.email], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("was not disabled; nothing changed");
  }, 60_000);

  it("exit codes: 3 for an unknown email, 2 for bad arguments, 1 for a bad configuration; nothing changes", async () => {
    const user = await t.addUser();
    const unknown = await run(DISABLE, ["--email", "nobody-at-all@example.com"], env);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/^user:disable: no user has the email nobody-at-all@example\.com; check the address/);

    const missing = await run(DISABLE, [], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("user:disable: --email is required\nusage: npm run user:disable -- --email user@example.com");
    const notAnEmail = await run(ENABLE, ["--email", "not-an-email"], env);
    expect(notAnEmail.code).toBe(2);
    expect(notAnEmail.stderr).toMatch(/^user:enable: "not-an-email" is not an email address/);
    const unknownOption = await run(DISABLE, ["--email", user.email, "--force"], env);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toMatch(/--force/);

    const badConfig = await run(DISABLE, ["--email", user.email], { ...env, SESSION_STORE: "mongo" });
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/^user:disable: SESSION_STORE must be one of/);
    expect(badConfig.stderr).not.toMatch(/\n\s+at /);

    expect((await t.handle.users.findById(user.id))?.disabledAt).toBeNull();
    expect((await loginJson(t.agent(), user.email, user.password)).status).toBe(200);
  }, 60_000);

  it("an unreachable session store: exit 1 with the cause and a safe retry; the account is disabled already", async () => {
    const user = await t.addUser();
    // Nothing listens on port 1: the connection is refused at once.
    const outcome = await run(DISABLE, ["--email", user.email], { DATA_DIR: t.dataDir, SESSION_STORE: "redis", REDIS_URL: "redis://127.0.0.1:1" });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/^user:disable: .+; check that the database and session store are reachable, then run the command again \(it is safe to repeat\)\n$/);
    expect(outcome.stderr).not.toMatch(/\n\s+at /);
    expect((await t.handle.users.findById(user.id))?.disabledAt).toEqual(expect.any(Number));
  }, 60_000);

  it("SESSION_STORE=memory: disables the account and says the running server must use the admin endpoint or restart", async () => {
    const user = await t.addUser();
    const outcome = await run(DISABLE, ["--email", user.email], { DATA_DIR: t.dataDir, SESSION_STORE: "memory" });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toBe(`Disabled ${user.email}; logins are refused.\n`);
    expect(outcome.stderr).toContain("SESSION_STORE=memory keeps sessions inside the running server");
    expect(outcome.stderr).toContain("POST /admin/users/disable");
    expect(outcome.stderr).toContain("restart it");
    expect((await t.handle.users.findById(user.id))?.disabledAt).toEqual(expect.any(Number));
    expect((await loginJson(t.agent(), user.email, user.password)).status).toBe(401);
  });
});
