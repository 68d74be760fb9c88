/**
 * ctx.sessionOptions changed for one request (koa-session lets a handler change the cookie's
 * attributes this way, e.g. a tenant's domain), and the Priority / Partitioned cookie attributes.
 */
import Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session, { MemoryStore, SessionConfigError, type SessionOptions } from "../../src/index.js";
import { Client, cookie, cookieHeader, isExpired, KEY1, makeApp, setCookies } from "./_util.js";

/** Routes: /tenant sets a per-request domain, path, sameSite, httpOnly and priority; /logout destroys. */
function tenantApp(options: SessionOptions = {}): Koa {
  return makeApp({ store: new MemoryStore(), maxAge: 60_000, ...options }, (ctx) => {
    const o = ctx.sessionOptions;
    if (ctx.query.domain) {
      o.domain = String(ctx.query.domain);
      o.path = "/app";
      o.sameSite = "strict";
      o.httpOnly = false;
      o.priority = "High";
    }
    if (ctx.path === "/logout") ctx.session = null;
    else ctx.session.views = ((ctx.session.views as number | undefined) ?? 0) + 1;
    ctx.body = { views: ctx.session?.views ?? null, domain: o.domain ?? null };
  });
}

describe("ctx.sessionOptions changed for one request", () => {
  it("cookie attributes apply to this request's cookie and its .sig only; the next request has the defaults", async () => {
    const app = tenantApp();
    const first = await request(app.callback()).get("/?domain=tenant.example.com");
    expect(first.body).toEqual({ views: 1, domain: "tenant.example.com" });
    const lines = setCookies(first);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(/^koa\.sess(\.sig)?=[^;]+; path=\/app; expires=[^;]+; domain=tenant\.example\.com; priority=high; samesite=strict$/);
    }
    const other = await request(app.callback()).get("/");
    for (const line of setCookies(other)) expect(line).toMatch(/; path=\/; expires=[^;]+; samesite=lax; httponly$/);
  });

  it("a logout clears the cookie with the same per-request attributes (a browser ignores a clear for another domain)", async () => {
    const app = tenantApp();
    const client = new Client(app.callback());
    await client.get("/?domain=tenant.example.com");
    const out = await request(app.callback()).get("/logout?domain=tenant.example.com").set("Cookie", client.header());
    expect(isExpired(cookie(out))).toBe(true);
    expect(cookie(out)?.attrs.domain).toBe("tenant.example.com");
    expect(cookie(out)?.attrs.path).toBe("/app");
  });

  it("rolling and renew can be turned on for one request", async () => {
    const app = makeApp({ store: new MemoryStore(), maxAge: 60_000 }, (ctx) => {
      if (ctx.path === "/write") ctx.session.n = 1;
      if (ctx.query.roll) ctx.sessionOptions.rolling = true;
      ctx.body = "ok";
    });
    const client = new Client(app.callback());
    await client.get("/write");
    expect(setCookies(await request(app.callback()).get("/").set("Cookie", client.header()))).toHaveLength(0);
    expect(setCookies(await request(app.callback()).get("/?roll=1").set("Cookie", client.header()))).toHaveLength(2);
  });

  it("bad values are refused where they are assigned (ERR_SESSIONKIT_MISUSE), and nothing reaches Set-Cookie", async () => {
    const errors: unknown[] = [];
    const app = makeApp({ store: new MemoryStore() }, (ctx) => {
      const o = ctx.sessionOptions as unknown as Record<string, unknown>;
      const attempts: [string, unknown][] = [
        ["domain", "evil.example; secure"],
        ["path", "/x\r\nSet-Cookie: a=b"],
        ["sameSite", "sideways"],
        ["priority", "urgent"],
        ["httpOnly", "yes"],
        ["partitioned", 1],
        ["key", "other"],
        ["store", new MemoryStore()],
        ["signed", false],
      ];
      for (const [name, value] of attempts) {
        try {
          o[name] = value;
        } catch (error) {
          errors.push([name, error]);
        }
      }
      ctx.session.n = 1;
      ctx.body = "ok";
    });
    const res = await request(app.callback()).get("/");
    expect(res.status).toBe(200);
    expect(errors).toHaveLength(9);
    for (const [, error] of errors as [string, SessionConfigError][]) {
      expect(error).toBeInstanceOf(SessionConfigError);
      expect(error.code).toBe("ERR_SESSIONKIT_MISUSE");
      expect(error.message).toMatch(/^koa-sessionkit: ctx\.sessionOptions\./);
    }
    const keyError = (errors as [string, Error][]).find(([name]) => name === "key")?.[1];
    expect(keyError?.message).toContain("fixed when session() is called");
    expect(keyError?.message).toContain("domain");
    for (const line of setCookies(res)) expect(line).toMatch(/^koa\.sess(\.sig)?=[^;]+; path=\/; samesite=lax; httponly$/);
  });

  it("sameSite none set for one request makes that cookie Secure; secure: false with it is refused", async () => {
    const app = makeApp({ store: new MemoryStore() }, (ctx) => {
      ctx.sessionOptions.sameSite = "none";
      let refused = "";
      try {
        ctx.sessionOptions.secure = false;
      } catch (error) {
        refused = (error as Error).message;
      }
      ctx.session.n = 1;
      ctx.body = refused;
    });
    const res = await request(app.callback()).get("/");
    expect(res.text).toContain('sameSite "none" requires Secure');
    for (const line of setCookies(res)) expect(line).toMatch(/; samesite=none; secure; httponly$/);
  });

  it("works in cookie mode too", async () => {
    const app = makeApp({ mode: "cookie", maxAge: 60_000 }, (ctx) => {
      ctx.sessionOptions.domain = "tenant.example.com";
      ctx.session.n = 1;
      ctx.body = "ok";
    });
    const res = await request(app.callback()).get("/");
    expect(cookie(res)?.attrs.domain).toBe("tenant.example.com");
    expect(cookieHeader(res)).toMatch(/^koa\.sess=v1\./);
  });
});

describe("priority and partitioned options", () => {
  it("are sent in the cookies module's attribute order; partitioned implies Secure", async () => {
    const app = makeApp({ store: new MemoryStore(), priority: "HIGH", partitioned: true, sameSite: "none" }, (ctx) => {
      ctx.session.n = 1;
      ctx.body = "ok";
    });
    const res = await request(app.callback()).get("/");
    const lines = setCookies(res);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/; path=\/; priority=high; samesite=none; secure; httponly; partitioned$/);
  });

  it("bad values and partitioned without Secure are start-up errors", () => {
    const app = new Koa();
    app.keys = [KEY1];
    expect(() => session({ priority: "urgent" }, app)).toThrow(/"priority" must be "low", "medium" or "high"/);
    expect(() => session({ partitioned: true, secure: false }, app)).toThrow(/partitioned cookies must be Secure/);
    expect(() => session({ partitioned: "yes" as unknown as boolean }, app)).toThrow(/"partitioned" must be true or false/);
  });
});
