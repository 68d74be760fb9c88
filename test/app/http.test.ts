/** The reference app beyond the core scenarios: HTML pages and forms, timeouts, body limits, rehash. */
import path from "node:path";
import bcrypt from "bcryptjs";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { cookieHeader, csrfFrom, loginJson, sessionCookie, startTestApp, type TestApp } from "./helpers.js";

const HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

describe("reference app: HTML pages and forms", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ SESSION_STORE: "sqlite" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("GET /login is an accessible form with a CSRF field, no-store", async () => {
    const res = await t.http().get("/login");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.text).toContain('<label for="email">');
    expect(res.text).toContain('<label for="password">');
    expect(res.text).toMatch(/name="_csrf" value="[A-Za-z0-9_-]{86}"/);
    expect(res.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect((await t.http().get("/style.css")).status).toBe(200);
  });

  it("form login: 303 to ?next= (same-origin only); a failure re-shows the form with the email kept and escaped", async () => {
    const user = await t.addUser();
    const agent = t.agent();
    const page = await agent.get("/login?next=/account/sessions").set("Accept", HTML);
    const token = csrfFrom(page.text);
    expect(page.text).toContain('name="next" value="/account/sessions"');

    const evilEmail = `"><script>alert(1)</script>@x.example`;
    const failed = await agent.post("/login").type("form").set("Accept", HTML).send({ email: evilEmail, password: "wrong", _csrf: token });
    expect(failed.status).toBe(401);
    expect(failed.text).toContain("Invalid email or password");
    expect(failed.text).not.toContain("<script>alert(1)</script>");
    expect(failed.text).toContain("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@x.example");
    const unknown = await agent.post("/login").type("form").set("Accept", HTML).send({ email: "nobody@x.example", password: "wrong", _csrf: token });
    const wrong = await agent.post("/login").type("form").set("Accept", HTML).send({ email: user.email, password: "wrong", _csrf: token });
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.text.replace(/value="[^"]*"/g, "")).toBe(wrong.text.replace(/value="[^"]*"/g, ""));

    const ok = await agent
      .post("/login")
      .type("form")
      .set("Accept", HTML)
      .send({ email: user.email, password: user.password, _csrf: csrfFrom(wrong.text), next: "/account/sessions" });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe("/account/sessions");

    const sessions = await agent.get("/account/sessions").set("Accept", HTML);
    expect(sessions.status).toBe(200);
    expect(sessions.headers["cache-control"]).toBe("no-store");
    expect(sessions.text).toContain("This device");
    expect(sessions.text).toContain('action="/logout"');

    // An off-site next is ignored.
    const other = t.agent();
    const otherPage = await other.get("/login").set("Accept", HTML);
    const offsite = await other
      .post("/login")
      .type("form")
      .set("Accept", HTML)
      .send({ email: user.email, password: user.password, _csrf: csrfFrom(otherPage.text), next: "//evil.example/x" });
    expect(offsite.status).toBe(303);
    expect(offsite.headers.location).toBe("/dashboard");
  });

  it("a form post without a valid CSRF token is refused with 403", async () => {
    const user = await t.addUser();
    const agent = t.agent();
    await agent.get("/login").set("Accept", HTML);
    const res = await agent.post("/login").type("form").set("Accept", HTML).send({ email: user.email, password: user.password, _csrf: "forged" });
    expect(res.status).toBe(403);
    expect(sessionCookie(res)?.value ?? "").toBe("");
    expect(res.text).not.toMatch(/\n\s+at /);
  });

  it("logged-out browsers are sent to /login?next=…; pages escape what users control; forms redirect with 303", async () => {
    const redirect = await t.http().get("/dashboard").set("Accept", HTML);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe("/login?next=%2Fdashboard");

    const user = await t.addUser();
    const agent = t.agent();
    const other = t.agent();
    await loginJson(agent, user.email, user.password, "<img src=x onerror=alert(1)>");
    await loginJson(other, user.email, user.password, "Other/1.0");

    const dashboard = await agent.get("/dashboard").set("Accept", HTML);
    expect(dashboard.status).toBe(200);
    expect(dashboard.text).toContain(user.email);
    const sessions = await agent.get("/account/sessions").set("Accept", HTML);
    expect(sessions.text).not.toContain("<img src=x");
    expect(sessions.text).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(sessions.text).toContain("Revoke all others");

    const revokeAction = /action="(\/account\/sessions\/[^"]+\/revoke)"/.exec(sessions.text)?.[1];
    expect(revokeAction).toBeTruthy();
    const revoked = await agent.post(revokeAction as string).type("form").set("Accept", HTML).send({ _csrf: csrfFrom(sessions.text) });
    expect(revoked.status).toBe(303);
    expect(revoked.headers.location).toBe("/account/sessions?notice=revoked");
    // Only the app's own notices: a name Object.prototype has shows nothing.
    for (const name of ["constructor", "toString", "__proto__"]) {
      const page = await agent.get(`/account/sessions?notice=${name}`).set("Accept", HTML);
      expect(page.text).not.toMatch(/native code|\[object Object\]/);
    }
    expect((await other.get("/dashboard").set("Accept", "application/json")).status).toBe(401);

    const passwordPage = await agent.get("/account/password").set("Accept", HTML);
    expect(passwordPage.text).toContain('<label for="newPassword">');
    const changed = await agent
      .post("/account/password")
      .type("form")
      .set("Accept", HTML)
      .send({ currentPassword: user.password, newPassword: "another long password", _csrf: csrfFrom(passwordPage.text) });
    expect(changed.status).toBe(303);

    const dashboardAfter = await agent.get("/dashboard").set("Accept", HTML);
    const logout = await agent.post("/logout").type("form").set("Accept", HTML).send({ _csrf: csrfFrom(dashboardAfter.text) });
    expect(logout.status).toBe(303);
    expect(logout.headers.location).toBe("/login?loggedOut=1");
    expect((await agent.get("/dashboard").set("Accept", "application/json")).status).toBe(401);
  });
});

describe("reference app: request validation and error handling", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ SESSION_STORE: "memory" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a body over 1 MB is 413 JSON, malformed JSON is 400 JSON, never a 500 or a stack trace", async () => {
    const big = await t.http().post("/login").set("Content-Type", "application/json").send(JSON.stringify({ email: "a".repeat(1024 * 1024 + 10), password: "x" }));
    expect(big.status).toBe(413);
    expect(big.body).toEqual({ error: "Request body too large" });
    const bigForm = await t.http().post("/login").type("form").send(`email=${"a".repeat(1024 * 1024 + 10)}`);
    expect(bigForm.status).toBe(413);

    const malformed = await t.http().post("/login").set("Content-Type", "application/json").send('{"email": "a@b.c", "password": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual({ error: "Malformed JSON" });
    expect(malformed.text).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it("login: 400 for missing or non-string fields and for a password over 1024 bytes", async () => {
    for (const body of [{}, { email: "a@b.c" }, { password: "x" }, { email: 1, password: "x" }, { email: "a@b.c", password: ["x"] }]) {
      const res = await t.http().post("/login").send(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(typeof res.body.error).toBe("string");
    }
    const long = await t.http().post("/login").send({ email: "a@b.c", password: "é".repeat(513) });
    expect(long.status).toBe(400);
  });

  it("unknown paths are a 404 JSON for API clients", async () => {
    const res = await t.http().get("/nope").set("Accept", "application/json");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "Not Found" });
  });

  it("rehashes an old bcrypt hash after a successful login", async () => {
    const email = "legacy@example.com";
    const created = await t.handle.users.create({ email, passwordHash: await bcrypt.hash("old bcrypt password", 4) });
    expect((await loginJson(t.agent(), email, "old bcrypt password")).status).toBe(200);
    const stored = await t.handle.users.findById(created.id);
    expect(stored?.passwordHash.startsWith("$argon2id$") || stored?.passwordHash.startsWith("$scrypt$")).toBe(true);
    expect((await loginJson(t.agent(), email, "old bcrypt password")).status).toBe(200);
  });
});

describe("reference app: idle and absolute timeouts (fake clock)", () => {
  const MINUTE = 60_000;
  let t: TestApp;
  let now: number;
  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    now = Date.parse("2030-01-01T00:00:00Z");
    vi.setSystemTime(now);
    t = await startTestApp({ SESSION_STORE: "sqlite" }, { idleTimeoutMs: 30 * MINUTE, absoluteTimeoutMs: 120 * MINUTE });
  });
  afterEach(() => {
    vi.setSystemTime(now);
  });
  afterAll(async () => {
    await t?.close();
    vi.useRealTimers();
  });

  const dashboard = (cookie: string) => t.http().get("/dashboard").set("Accept", "application/json").set("Cookie", cookie);

  it("ends a session after 30 idle minutes, but activity keeps it alive", async () => {
    const user = await t.addUser();
    vi.setSystemTime(now);
    const cookie = cookieHeader(await loginJson(t.http(), user.email, user.password));
    vi.setSystemTime(now + 29 * MINUTE);
    expect((await dashboard(cookie)).status).toBe(200);
    vi.setSystemTime(now + 58 * MINUTE);
    expect((await dashboard(cookie)).status).toBe(200);
    vi.setSystemTime(now + 89 * MINUTE);
    expect((await dashboard(cookie)).status).toBe(401);
    vi.setSystemTime(now + 90 * MINUTE);
    expect((await dashboard(cookie)).status).toBe(401);
  });

  it("a cookieless login page stores nothing; its form works for 2 h, and a login from it gets the absolute timeout", async () => {
    vi.setSystemTime(now);
    const pages = await Promise.all(Array.from({ length: 5 }, () => t.http().get("/login").set("Accept", HTML)));
    for (const page of pages) {
      expect(sessionCookie(page)).toBeUndefined();
      expect(cookieHeader(page)).toMatch(/^sessionkit\.sid\.csrf=v1\./);
    }
    const db = new Database(path.join(t.dataDir, "app.db"), { readonly: true });
    try {
      const anonymous = db.prepare("SELECT COUNT(*) AS n FROM koa_sessions WHERE user_id IS NULL").get() as { n: number };
      expect(anonymous.n).toBe(0);
    } finally {
      db.close();
    }

    // Reloading the page keeps the secret it has: no new cookie.
    const page = pages[0]!;
    const reload = await t.http().get("/login").set("Accept", HTML).set("Cookie", cookieHeader(page));
    expect(reload.headers["set-cookie"]).toBeUndefined();

    // A form left open past the secret's 2 h is refused; reloading it gives a working form.
    const user = await t.addUser();
    vi.setSystemTime(now + 121 * MINUTE);
    const stale = await t.http().post("/login").type("form").set("Accept", HTML).set("Cookie", cookieHeader(page))
      .send({ email: user.email, password: user.password, _csrf: csrfFrom(page.text) });
    expect(stale.status).toBe(403);

    const fresh = await t.http().get("/login").set("Accept", HTML);
    const loggedIn = await t.http().post("/login").type("form").set("Accept", HTML).set("Cookie", cookieHeader(fresh))
      .send({ email: user.email, password: user.password, _csrf: csrfFrom(fresh.text) });
    expect(loggedIn.status).toBe(303);
    expect(Date.parse(String(sessionCookie(loggedIn)?.attrs.expires))).toBe(now + 121 * MINUTE + 120 * MINUTE);
  });

  it("ends a session at the absolute timeout however active it is", async () => {
    const user = await t.addUser();
    vi.setSystemTime(now);
    const cookie = cookieHeader(await loginJson(t.http(), user.email, user.password));
    for (const minutes of [25, 50, 75, 100, 119]) {
      vi.setSystemTime(now + minutes * MINUTE);
      expect((await dashboard(cookie)).status, `at ${minutes} min`).toBe(200);
    }
    vi.setSystemTime(now + 121 * MINUTE);
    expect((await dashboard(cookie)).status).toBe(401);
  });
});
