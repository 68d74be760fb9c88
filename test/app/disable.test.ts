/**
 * Disabling an account (ASVS 5.0 7.4.2) through POST /admin/users/disable: every session of the user
 * ends at once, login is refused exactly like a wrong password, and /admin/users/enable lets them back
 * in (with their old sessions still gone). The flow runs per session store; access control, input
 * validation, CSRF and throttling run once (they do not depend on the store).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DATABASE_URL, REDIS_URL, requireService } from "../helpers/services.js";
import { cookieHeader, csrfFrom, loginJson, sessionCookie, setCookies, startTestApp, type TestApp } from "./helpers.js";

const redisUp = await requireService("redis");
const postgresUp = await requireService("postgres");

const STORES: Array<{ label: string; up: boolean; env: Record<string, string> }> = [
  { label: "memory", up: true, env: { SESSION_STORE: "memory" } },
  { label: "sqlite", up: true, env: { SESSION_STORE: "sqlite" } },
  { label: "redis", up: redisUp, env: { SESSION_STORE: "redis", REDIS_URL } },
  { label: "postgres, users in PostgreSQL", up: postgresUp, env: { SESSION_STORE: "postgres", DATABASE_URL } },
];

type Client = ReturnType<TestApp["agent"]> | ReturnType<TestApp["http"]>;
const HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const ADMIN_PASSWORD = "admin password 123";

const dashboard = (client: Client) => client.get("/dashboard").set("Accept", "application/json");
const adminPost = (client: Client, action: "disable" | "enable", body: unknown) =>
  client.post(`/admin/users/${action}`).set("Accept", "application/json").send(body as object);

/** An app with one logged-in admin. */
async function withAdmin(env: Record<string, string>) {
  const t = await startTestApp(env);
  const admin = await t.addUser(undefined, ADMIN_PASSWORD, "admin");
  const agent = t.agent();
  expect((await loginJson(agent, admin.email, admin.password)).status).toBe(200);
  return { t, admin, agent };
}

for (const store of STORES) {
  describe.skipIf(!store.up)(`admin disable/enable (${store.label})`, () => {
    let setup: Awaited<ReturnType<typeof withAdmin>>;
    beforeAll(async () => {
      setup = await withAdmin(store.env);
    });
    afterAll(async () => {
      await setup?.t.close();
    });

    it("disabling ends every session at once and refuses login like a wrong password; enabling lets the user back in", async () => {
      const { t, agent: adminAgent } = setup;
      const user = await t.addUser();
      const laptop = t.agent();
      const phone = t.agent();
      await loginJson(laptop, user.email, user.password);
      await loginJson(phone, user.email, user.password);
      // A third session that makes no request until after the re-enable: only destroyByUser can end it.
      const tablet = cookieHeader(await loginJson(t.http(), user.email, user.password));
      expect((await dashboard(laptop)).status).toBe(200);
      expect((await dashboard(phone)).status).toBe(200);

      const disabled = await adminPost(adminAgent, "disable", { email: ` ${user.email.toUpperCase()} ` });
      expect(disabled.status).toBe(200);
      expect(disabled.body).toEqual({ ok: true, revoked: 3 });
      expect(disabled.headers["cache-control"]).toBe("no-store");
      for (const agent of [laptop, phone]) {
        const res = await dashboard(agent);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: "Not authenticated" });
      }
      expect((await t.handle.users.findById(user.id))?.disabledAt).toEqual(expect.any(Number));

      // The right password of a disabled account answers exactly what a wrong password does.
      const refused = await loginJson(t.agent(), user.email, user.password);
      const active = await t.addUser();
      const wrong = await loginJson(t.agent(), active.email, "not the password");
      for (const res of [refused, wrong]) {
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: "Invalid credentials" });
        expect(res.headers["cache-control"]).toBe("no-store");
      }
      expect(refused.text).toBe(wrong.text);
      expect(setCookies(refused).length).toBe(setCookies(wrong).length);
      expect(sessionCookie(refused) === undefined).toBe(sessionCookie(wrong) === undefined);

      // Disabling again is harmless: nothing left to end.
      expect((await adminPost(adminAgent, "disable", { email: user.email })).body).toEqual({ ok: true, revoked: 0 });
      // The admin's own session is untouched.
      expect((await dashboard(adminAgent)).status).toBe(200);

      const enabled = await adminPost(adminAgent, "enable", { email: user.email });
      expect(enabled.status).toBe(200);
      expect(enabled.body).toEqual({ ok: true });
      expect((await t.handle.users.findById(user.id))?.disabledAt).toBeNull();
      // Enabling never revives an old session.
      const stale = await t.http().get("/dashboard").set("Accept", "application/json").set("Cookie", tablet);
      expect(stale.status).toBe(401);
      expect(stale.body).toEqual({ error: "Not authenticated" });
      const again = t.agent();
      expect((await loginJson(again, user.email, user.password)).body).toEqual({ ok: true });
      expect((await dashboard(again)).body).toEqual({ userId: user.id });
    });

    it("disabling one user leaves other users' sessions alone; disabling an admin ends the admin's sessions", async () => {
      const { t, agent: adminAgent } = setup;
      const bystander = await t.addUser();
      const bystanderAgent = t.agent();
      await loginJson(bystanderAgent, bystander.email, bystander.password);
      const otherAdmin = await t.addUser(undefined, ADMIN_PASSWORD, "admin");
      const otherAdminAgent = t.agent();
      await loginJson(otherAdminAgent, otherAdmin.email, otherAdmin.password);

      const res = await adminPost(adminAgent, "disable", { email: otherAdmin.email });
      expect(res.body).toEqual({ ok: true, revoked: 1 });
      expect((await dashboard(otherAdminAgent)).status).toBe(401);
      // A disabled admin's old cookie cannot use the admin API either.
      expect((await adminPost(otherAdminAgent, "enable", { email: otherAdmin.email })).status).toBe(401);
      expect((await dashboard(bystanderAgent)).status).toBe(200);
    });
  });
}

describe("admin disable/enable: access, input, CSRF, throttling (memory)", () => {
  let setup: Awaited<ReturnType<typeof withAdmin>>;
  beforeAll(async () => {
    setup = await withAdmin({ SESSION_STORE: "memory" });
  });
  afterAll(async () => {
    await setup?.t.close();
  });

  it("logged out: 401; a logged-in non-admin: 403; the target keeps working", async () => {
    const { t } = setup;
    const target = await t.addUser();
    const targetAgent = t.agent();
    await loginJson(targetAgent, target.email, target.password);

    const anonymous = await adminPost(t.http(), "disable", { email: target.email });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({ error: "Not authenticated" });

    const plain = await t.addUser();
    const plainAgent = t.agent();
    await loginJson(plainAgent, plain.email, plain.password);
    for (const action of ["disable", "enable"] as const) {
      const res = await adminPost(plainAgent, action, { email: target.email });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: "Forbidden" });
    }
    expect((await dashboard(targetAgent)).status).toBe(200);
    expect((await t.handle.users.findById(target.id))?.disabledAt).toBeNull();
  });

  it("unknown email: 404; bad bodies: 400 naming the fix; self-disable: 400; never a 500", async () => {
    const { t, admin, agent } = setup;
    for (const action of ["disable", "enable"] as const) {
      const unknown = await adminPost(agent, action, { email: "nobody-here@example.com" });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ error: "No such user" });
    }
    for (const body of [{}, { email: 42 }, { email: ["a@b.c"] }, { mail: "a@b.c" }, { email: "" }, { email: "not an email" }]) {
      const res = await adminPost(agent, "disable", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error, JSON.stringify(body)).toMatch(/^email is (missing or not a string|not an email address); send a JSON body such as \{"email":"user@example\.com"\}$/);
    }
    const list = await adminPost(agent, "disable", []);
    expect(list.status).toBe(400);
    expect(list.body.error).toMatch(/^JSON body must be an object .*; got an array$/);
    const malformed = await agent.post("/admin/users/disable").set("Content-Type", "application/json").send('{"email": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual({ error: "Malformed JSON" });

    const self = await adminPost(agent, "disable", { email: admin.email });
    expect(self.status).toBe(400);
    expect(self.body.error).toMatch(/cannot disable your own account/);
    expect((await dashboard(agent)).status).toBe(200);
    expect((await t.handle.users.findById(admin.id))?.disabledAt).toBeNull();

    const wrongMethod = await agent.get("/admin/users/disable").set("Accept", "application/json");
    expect(wrongMethod.status).toBe(405);
  });

  it("a database failure while disabling is a 503 saying the request is safe to repeat, not a 500", async () => {
    const { t, agent } = setup;
    const user = await t.addUser();
    const failing = vi.spyOn(t.handle.users, "setDisabled").mockRejectedValueOnce(new Error("SQLITE_BUSY: database is locked"));
    try {
      const res = await adminPost(agent, "disable", { email: user.email });
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBe("1");
      expect(res.body.error).toMatch(/could not be disabled completely .*; repeat the request \(it is safe to repeat\)$/);
      expect(res.text).not.toContain("SQLITE_BUSY");
    } finally {
      failing.mockRestore();
    }
    expect((await adminPost(agent, "disable", { email: user.email })).body).toEqual({ ok: true, revoked: 0 });
  });

  it("follows the CSRF rules of every POST: cross-site JSON and token-less forms are refused with 403", async () => {
    const { t, agent } = setup;
    const target = await t.addUser();
    const crossSite = await agent
      .post("/admin/users/disable")
      .set("Origin", "http://evil.example")
      .set("Accept", "application/json")
      .send({ email: target.email });
    expect(crossSite.status).toBe(403);
    const fetchSite = await agent
      .post("/admin/users/disable")
      .set("Sec-Fetch-Site", "cross-site")
      .set("Accept", "application/json")
      .send({ email: target.email });
    expect(fetchSite.status).toBe(403);
    const form = await agent.post("/admin/users/disable").type("form").set("Accept", HTML).send({ email: target.email, _csrf: "forged" });
    expect(form.status).toBe(403);
    expect((await t.handle.users.findById(target.id))?.disabledAt).toBeNull();
    expect((await loginJson(t.agent(), target.email, target.password)).status).toBe(200);
  });

  it("the HTML form shows its usual error for a disabled account", async () => {
    const { t, agent } = setup;
    const user = await t.addUser();
    const active = await t.addUser();
    await adminPost(agent, "disable", { email: user.email });
    const browser = t.agent();
    const page = await browser.get("/login").set("Accept", HTML);
    const post = (email: string, password: string, token: string) =>
      browser.post("/login").type("form").set("Accept", HTML).send({ email, password, _csrf: token });
    const refused = await post(user.email, user.password, csrfFrom(page.text));
    const wrong = await post(active.email, "not the password", csrfFrom(refused.text));
    for (const res of [refused, wrong]) {
      expect(res.status).toBe(401);
      expect(res.text).toContain("Invalid email or password");
    }
    expect(refused.text.replace(/value="[^"]*"/g, "")).toBe(wrong.text.replace(/value="[^"]*"/g, ""));
  });

  it("a disabled account's logins count as failures: 10 of them lock it like wrong passwords", async () => {
    const { t, agent } = setup;
    const user = await t.addUser();
    await adminPost(agent, "disable", { email: user.email });
    for (let i = 0; i < 10; i++) {
      expect((await loginJson(t.agent(), user.email, user.password)).status).toBe(401);
    }
    const locked = await loginJson(t.agent(), user.email, user.password);
    expect(locked.status).toBe(429);
    expect(locked.body).toEqual({ error: "Too many attempts" });
  });

  it("a session that outlived the disable (saved by a racing login, or in a store the CLI could not reach) is refused and logged out", async () => {
    const { t } = setup;
    const user = await t.addUser();
    const agent = t.agent();
    await loginJson(agent, user.email, user.password);
    // Only the repository changes, as when the CLI disables an account of a memory-store server.
    await t.handle.users.setDisabled(user.id, true);
    const res = await dashboard(agent);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "Not authenticated" });
    await t.handle.users.setDisabled(user.id, false);
    // loadUser logged that session out, so it stays dead after the account comes back.
    expect((await dashboard(agent)).status).toBe(401);
  });
});
