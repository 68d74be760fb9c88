import Koa from "koa";
import request from "supertest";
import session from "../../src/index.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { markReauthenticated, requireAuth, safeNextPath } from "../../src/auth/index.js";
import { buildApp, cookieHeader, KEYS } from "./helpers.js";

describe("requireAuth", () => {
  it("answers JSON clients 401 and browsers 302 to /login?next=…", async () => {
    const { server } = buildApp();
    const api = await request(server).get("/me").set("Accept", "application/json");
    expect(api.status).toBe(401);
    expect(api.body).toEqual({ error: "Not authenticated" });
    expect((await request(server).get("/me")).status).toBe(401); // no Accept at all
    expect((await request(server).get("/me").set("Accept", "*/*")).status).toBe(401);

    const browser = await request(server).get("/me?tab=2&x=%2F").set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");
    expect(browser.status).toBe(302);
    expect(browser.headers.location).toBe(`/login?next=${encodeURIComponent("/me?tab=2&x=%2F")}`);
  });

  it("never puts a foreign URL into next", async () => {
    const app = new Koa();
    app.keys = KEYS;
    app.use(session({}, app));
    app.use(requireAuth());
    const res = await request(app.callback()).get("//evil.example/me").set("Accept", "text/html");
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe("/login?next=%2F");
  });

  it("marks authenticated responses Cache-Control: no-store", async () => {
    const { server } = buildApp();
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    const res = await request(server).get("/me").set("Cookie", cookie);
    expect(res.status).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
  });

  it("refuses a loginPath that is not a same-origin path", () => {
    expect(() => requireAuth({ loginPath: "https://evil.example/login" })).toThrow(/^koa-sessionkit:/);
  });
});

describe("safeNextPath", () => {
  it.each([
    ["/account", "/account"],
    ["/a/b?c=d#e", "/a/b?c=d#e"],
    ["/%2F%2Fevil.example", "/%2F%2Fevil.example"],
    ["//evil.example", "/"],
    ["/\\evil.example", "/"],
    ["/a\\b", "/"],
    ["\\\\evil.example", "/"],
    ["https://evil.example", "/"],
    ["javascript:alert(1)", "/"],
    ["account", "/"],
    ["/\tevil", "/"],
    ["/\n/evil", "/"],
    ["/\u0000", "/"],
    ["", "/"],
    [undefined, "/"],
    [["/a"], "/"],
    ["/" + "a".repeat(3000), "/"],
  ])("%j → %j", (input, expected) => {
    expect(safeNextPath(input)).toBe(expected);
  });
});

describe("requireRole and requireRecentAuth", () => {
  afterEach(() => vi.useRealTimers());

  it("requireRole: 403 for another role, 401 when logged out, 200 for the role", async () => {
    const { server } = buildApp();
    expect((await request(server).get("/admin")).status).toBe(401);
    const user = cookieHeader(await request(server).post("/login?id=1&role=user"));
    const forbidden = await request(server).get("/admin").set("Cookie", user);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toEqual({ error: "Forbidden" });
    const noRole = cookieHeader(await request(server).post("/login?id=2"));
    expect((await request(server).get("/admin").set("Cookie", noRole)).status).toBe(403);
    const admin = cookieHeader(await request(server).post("/login?id=3&role=admin"));
    expect((await request(server).get("/admin").set("Cookie", admin)).body).toEqual({ admin: true });
  });

  it("requireRole: handler code writing ctx.session.role (e.g. saving a body into the session) grants nothing", async () => {
    const { server } = buildApp({
      extra: {
        // The "save preferences" pattern: the request body merged into the session.
        "POST /prefs": (ctx) => {
          Object.assign(ctx.session!, { role: "admin", theme: "dark" });
          ctx.status = 204;
        },
      },
    });
    const user = cookieHeader(await request(server).post("/login?id=1&role=user"));
    await request(server).post("/prefs").set("Cookie", user).expect(204);
    expect((await request(server).get("/admin").set("Cookie", user)).status).toBe(403);
    expect((await request(server).get("/me").set("Cookie", user)).body).toEqual({ id: "1", role: "user" });
    const noRole = cookieHeader(await request(server).post("/login?id=2"));
    await request(server).post("/prefs").set("Cookie", noRole).expect(204);
    expect((await request(server).get("/admin").set("Cookie", noRole)).status).toBe(403);
  });

  it("requireRecentAuth: 401 Reauthentication required once authAt is older; markReauthenticated resets it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2030-01-01T00:00:00Z"));
    const { server } = buildApp({
      extra: {
        "POST /reauth": (ctx) => {
          markReauthenticated(ctx);
          ctx.status = 204;
        },
      },
    });
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    expect((await request(server).get("/sensitive").set("Cookie", cookie)).status).toBe(200);
    vi.advanceTimersByTime(4 * 60_000);
    expect((await request(server).get("/sensitive").set("Cookie", cookie)).status).toBe(200);
    vi.advanceTimersByTime(2 * 60_000);
    const stale = await request(server).get("/sensitive").set("Cookie", cookie);
    expect(stale.status).toBe(401);
    expect(stale.body).toEqual({ error: "Reauthentication required" });
    // still logged in
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(200);
    expect((await request(server).post("/reauth").set("Cookie", cookie)).status).toBe(204);
    expect((await request(server).get("/sensitive").set("Cookie", cookie)).status).toBe(200);
  });
});
