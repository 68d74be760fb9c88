/** koa-session 7 call forms and its README examples, on Koa 3 and Koa 2. */
import Koa from "koa";
import Koa2 from "koa2";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import session, { SessionOptions, session as namedSession } from "../../src/index.js";
import { Client, ID_RE, KEY1, KEY2, cookie, cookies, viewCounter } from "./_util.js";

afterEach(() => {
  vi.useRealTimers();
});


describe("exports and call forms", () => {
  it("default and named exports are the same middleware factory and both count views", async () => {
    expect(namedSession).toBe(session);
    for (const factory of [session, namedSession]) {
      const app = new Koa();
      app.keys = [KEY1, KEY2];
      app.use(factory({}, app));
      app.use(viewCounter);
      const agent = request.agent(app.callback());
      expect((await agent.get("/")).text).toBe("1 views");
      expect((await agent.get("/")).text).toBe("2 views");
    }
  });

  it("accepts session(opts, app) and session(app, opts)", async () => {
    const a = new Koa();
    a.keys = [KEY1];
    a.use(session({ key: "first" }, a));
    a.use(viewCounter);
    const b = new Koa();
    b.keys = [KEY1];
    b.use(session(b, { key: "second" }));
    b.use(viewCounter);
    const ra = await request(a.callback()).get("/");
    const rb = await request(b.callback()).get("/");
    expect(cookie(ra, "first")?.value).toMatch(ID_RE);
    expect(cookie(rb, "second")?.value).toMatch(ID_RE);
    const c = new Koa();
    c.keys = [KEY1];
    c.use(session(c));
    c.use(viewCounter);
    const agent = request.agent(c.callback());
    await agent.get("/");
    expect((await agent.get("/")).text).toBe("2 views");
  });

  it("SessionOptions is a value (koa-session 7's schema: parse, safeParse) and the options type, one name", () => {
    // koa-session's own test (test/index.test.ts), unchanged but for the import.
    const parsed = (SessionOptions as unknown as { parse(input: object): unknown }).parse({});
    expect(JSON.parse(JSON.stringify(parsed))).toEqual({ key: "koa.sess", autoCommit: true, overwrite: true, httpOnly: true, signed: true, rolling: false, renew: false });
    expect(typeof SessionOptions.safeParse).toBe("function");
    const typed: SessionOptions = { key: "typed" };
    expect(SessionOptions.parse(typed).key).toBe("typed");
  });

  it("session(opts) without the app throws a config error", () => {
    expect(() => (session as unknown as (o: object) => unknown)({})).toThrow(/^koa-sessionkit:.*app/);
  });
});

describe("koa-session README view counter", () => {
  // Exactly the README's CONFIG and handler. Only the key differs: the README's 16-byte
  // 'some secret hurr' is refused on purpose (keys must be at least 32 bytes).
  const CONFIG = {
    key: "koa.sess",
    maxAge: 86400000,
    autoCommit: true,
    overwrite: true,
    httpOnly: true,
    signed: true,
    rolling: false,
    renew: false,
    secure: true,
    sameSite: null,
  };
  const handler = (ctx: Koa.Context) => {
    if (ctx.path === "/favicon.ico") return;
    let n = (ctx.session!.views as number) || 0;
    ctx.session!.views = ++n;
    ctx.body = n + " views";
  };

  it("runs on Koa 3 (secure: true over plain HTTP does not crash)", async () => {
    const app = new Koa();
    app.keys = [KEY1];
    app.use(session(CONFIG, app));
    app.use(handler);
    const client = new Client(app.callback());
    const r1 = await client.get("/");
    expect(r1.status).toBe(200);
    expect(r1.text).toBe("1 views");
    expect(cookie(r1)?.attrs.secure).toBe(true);
    expect((await client.get("/")).text).toBe("2 views");
    expect((await client.get("/")).text).toBe("3 views");
    const fav = await client.get("/favicon.ico");
    expect(fav.status).toBe(404);
    expect(cookies(fav)).toHaveLength(0);
  });

  it("runs on Koa 2", async () => {
    const app = new Koa2();
    app.keys = [KEY1];
    app.use(session(CONFIG, app));
    app.use(handler);
    const client = new Client(app.callback());
    expect((await client.get("/")).text).toBe("1 views");
    expect((await client.get("/")).text).toBe("2 views");
    expect(cookie(await client.get("/"), "koa.sess.sig")?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("the README's short key is refused with a fix", () => {
    const app = new Koa();
    app.keys = ["some secret hurr"];
    expect(() => session({}, app)).toThrow(/npx koa-sessionkit keys/);
  });

  it("works with the documented production config and two 32+ byte keys", async () => {
    const app = new Koa();
    app.keys = [KEY1, KEY2];
    app.use(
      session(
        { key: "koa.sess", maxAge: 86_400_000, httpOnly: true, secure: process.env.NODE_ENV === "production", sameSite: "lax", signed: true, rolling: false },
        app,
      ),
    );
    app.use(viewCounter);
    const client = new Client(app.callback());
    const before = Date.now();
    const r1 = await client.get("/");
    expect(r1.text).toBe("1 views");
    const c = cookie(r1);
    expect(c?.value).toMatch(ID_RE);
    expect(c?.attrs.httponly).toBe(true);
    expect(c?.attrs.samesite).toBe("lax");
    expect(c?.attrs.path).toBe("/");
    expect(c?.attrs.secure).toBeUndefined();
    const expires = Date.parse(String(c?.attrs.expires));
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 86_400_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 86_400_000 + 1000);
    expect(cookie(r1, "koa.sess.sig")).toBeDefined();
    expect((await client.get("/")).text).toBe("2 views");
  });
});
