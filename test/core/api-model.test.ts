/** The `ctx.session` model: isNew, maxAge, save/regenerate, replace/destroy, ctx.sessionOptions. */
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CountingStore } from "../helpers/counting-store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { Client, ID_RE, cookie, isExpired, makeApp, sessionCookie, sha256 } from "./_util.js";

afterEach(() => {
  vi.useRealTimers();
});


describe("ctx.session model", () => {
  function app(store = new CountingStore(), extra: Parameters<typeof makeApp>[0] = {}) {
    return makeApp({ store, ...extra }, async (ctx) => {
      const s = ctx.session!;
      switch (ctx.path) {
        case "/set":
          s.a = 1;
          s.b = { c: [2] };
          break;
        case "/maxage":
          s.maxAge = 5000;
          break;
        case "/save":
          await s.save();
          break;
        case "/regenerate":
          await s.regenerate();
          break;
        case "/null":
          ctx.session = null;
          break;
        case "/replace":
          ctx.session = { replaced: true };
          break;
        case "/five":
          (ctx as unknown as { session: unknown }).session = 5;
          break;
      }
      const now = ctx.session;
      ctx.body = now
        ? { isNew: now.isNew, populated: now.populated, length: now.length, maxAge: now.maxAge ?? null, externalKey: now.externalKey ?? null, json: now.toJSON() }
        : { session: null };
    });
  }

  it("isNew / populated / length / maxAge / externalKey / toJSON", async () => {
    const store = new CountingStore();
    const client = new Client(app(store).callback());
    const r0 = await client.get("/");
    // No maxAge option: maxAge reads undefined, as in koa-session; a store-mode session has its id
    // (externalKey) from the start, also as in koa-session.
    expect(r0.body).toMatchObject({ isNew: true, populated: false, length: 0, maxAge: null, json: {} });
    expect(r0.body.externalKey).toMatch(ID_RE);
    const r1 = await client.get("/set");
    expect(r1.body.isNew).toBe(true);
    expect(r1.body.json).toEqual({ a: 1, b: { c: [2] } });
    const id = client.jar.get("koa.sess") as string;
    expect(id).toMatch(ID_RE);
    const r2 = await client.get("/");
    expect(r2.body).toEqual({ isNew: false, populated: true, length: 2, maxAge: null, externalKey: sha256(id), json: { a: 1, b: { c: [2] } } });
  });

  it("maxAge set per session is saved, shapes the cookie and does not leak to other sessions", async () => {
    const store = new CountingStore();
    const handler = app(store).callback();
    const client = new Client(handler);
    await client.get("/set");
    const r = await client.get("/maxage");
    const expires = Date.parse(String(cookie(r)?.attrs.expires));
    expect(Math.abs(expires - (Date.now() + 5000))).toBeLessThan(2000);
    expect((await client.get("/")).body.maxAge).toBe(5000);
    const id = client.jar.get("koa.sess") as string;
    expect((await store.peek(sha256(id)))?._maxAge).toBe(5000);
    expect((await new Client(handler).get("/")).body.maxAge).toBeNull();
  });

  // Regression guard (fixed in 07a577a): switching an existing session to maxAge "session" once kept
  // the old Expires date instead of making a browser-session cookie.
  it("maxAge = 'session' on an existing session sends a cookie without Expires", async () => {
    const store = new CountingStore();
    const client = new Client(
      makeApp({ store }, (ctx) => {
        if (ctx.path === "/set") ctx.session!.a = 1;
        if (ctx.path === "/browser") ctx.session!.maxAge = "session";
        ctx.body = "ok";
      }).callback(),
    );
    await client.get("/set");
    const r = await client.get("/browser");
    expect((await store.peek(sha256(client.jar.get("koa.sess") as string)))?._session).toBe(true);
    expect(cookie(r)?.value).toBe(client.jar.get("koa.sess"));
    expect(cookie(r)?.attrs.expires).toBeUndefined();
  });

  it("save() writes an unchanged session", async () => {
    const store = new CountingStore();
    const client = new Client(app(store).callback());
    await client.get("/set");
    store.resetCounts();
    await client.get("/");
    expect(store.writes).toBe(0);
    const r = await client.get("/save");
    expect(store.writes + store.calls.touch).toBeGreaterThanOrEqual(1);
    expect(cookie(r)?.value).toBe(client.jar.get("koa.sess"));
  });

  it("an un-awaited save() (koa-session 6's synchronous habit) on a new session stores one session, not two", async () => {
    const store = new CountingStore();
    const server = makeApp({ store }, (ctx) => {
      ctx.session!.a = 1;
      void ctx.session!.save();
      ctx.session!.b = 2;
      ctx.body = "ok";
    }).callback();
    const client = new Client(server);
    await client.get("/");
    expect(new Set(store.setKeys).size).toBe(1);
    const r = await request(server).get("/").set("Cookie", `koa.sess=${client.jar.get("koa.sess")}; koa.sess.sig=${client.jar.get("koa.sess.sig")}`);
    expect(r.status).toBe(200);
    expect(await store.inner.get(store.setKeys[0]!, undefined, {})).toMatchObject({ a: 1, b: 2 });
  });

  it("with a synchronous store (MemoryStore) a save is complete when save() returns: stored and the cookie set, no promise in between", async () => {
    const store = new MemoryStore();
    const seen: { cookie: unknown; size: number }[] = [];
    const server = makeApp({ store }, (ctx) => {
      ctx.session!.a = 1;
      void ctx.session!.save();
      seen.push({ cookie: ctx.response.get("Set-Cookie"), size: store.size });
      ctx.body = "ok";
    }).callback();
    const r = await request(server).get("/");
    expect(r.status).toBe(200);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.size).toBe(1);
    expect(String(seen[0]?.cookie)).toMatch(/^koa\.sess=[A-Za-z0-9_-]{43};/);
  });

  it("save(callback) and regenerate(callback) work in koa-session's callback form", async () => {
    const store = new CountingStore();
    const results: unknown[] = [];
    const client = new Client(
      makeApp({ store }, async (ctx) => {
        const s = ctx.session!;
        s.v = 1;
        if (ctx.path === "/save-cb") results.push(await new Promise((resolve) => s.save((err) => resolve(err ?? "ok"))));
        if (ctx.path === "/regen-cb") results.push(await new Promise((resolve) => s.regenerate((err) => resolve(err ?? "ok"))));
        ctx.body = "ok";
      }).callback(),
    );
    await client.get("/save-cb");
    const first = client.jar.get("koa.sess");
    expect(store.calls.set).toBe(1);
    await client.get("/regen-cb");
    expect(results).toEqual(["ok", "ok"]);
    expect(client.jar.get("koa.sess")).not.toBe(first);
    expect(store.calls.destroy).toBe(1);
  });

  it("regenerate() moves the data to a new id and kills the old one", async () => {
    const store = new CountingStore();
    const handler = app(store).callback();
    const client = new Client(handler);
    await client.get("/set");
    const oldId = client.jar.get("koa.sess") as string;
    const r = await client.get("/regenerate");
    const newId = cookie(r)?.value as string;
    expect(newId).toMatch(ID_RE);
    expect(newId).not.toBe(oldId);
    expect(await store.peek(sha256(oldId))).toBeNull();
    expect((await client.get("/")).body).toMatchObject({ isNew: false, json: { a: 1, b: { c: [2] } } });
    const old = await request(handler).get("/").set("Cookie", sessionCookie(oldId));
    expect(old.body).toMatchObject({ isNew: true, length: 0 });
  });

  it("ctx.session = null destroys: store entry gone, cookie expired", async () => {
    const store = new CountingStore();
    const client = new Client(app(store).callback());
    await client.get("/set");
    const id = client.jar.get("koa.sess") as string;
    expect(await store.peek(sha256(id))).toBeTruthy();
    const r = await client.get("/null");
    expect(r.body).toEqual({ session: null });
    expect(await store.peek(sha256(id))).toBeNull();
    expect(store.calls.destroy).toBe(1);
    expect(isExpired(cookie(r))).toBe(true);
    expect(isExpired(cookie(r, "koa.sess.sig"))).toBe(true);
  });

  it("ctx.session = {…} replaces the data", async () => {
    const store = new CountingStore();
    const client = new Client(app(store).callback());
    await client.get("/set");
    expect((await client.get("/replace")).body.json).toEqual({ replaced: true });
    expect((await client.get("/")).body).toMatchObject({ isNew: false, json: { replaced: true } });
  });

  it("ctx.session = 5 is a 500 through Koa and the app keeps serving", async () => {
    const a = app();
    const errors: Error[] = [];
    a.on("error", (err: Error) => errors.push(err));
    const r = await request(a.callback()).get("/five");
    expect(r.status).toBe(500);
    expect(r.text).not.toMatch(/koa-sessionkit|at /);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(errors[0]?.message).toMatch(/^koa-sessionkit:/);
    expect((await request(a.callback()).get("/")).status).toBe(200);
  });

  it("ctx.sessionOptions is a per-request copy of the options", async () => {
    const seen: unknown[] = [];
    const a = makeApp({ key: "sid", maxAge: 60_000 }, (ctx) => {
      const o = ctx.sessionOptions!;
      seen.push({ key: o.key, maxAge: o.maxAge, httpOnly: o.httpOnly, signed: o.signed });
      if (ctx.path === "/long") ctx.session!.maxAge = 120_000;
      ctx.body = "ok";
    });
    await request(a.callback()).get("/long");
    await request(a.callback()).get("/");
    expect(seen).toEqual([
      { key: "sid", maxAge: 60_000, httpOnly: true, signed: true },
      { key: "sid", maxAge: 60_000, httpOnly: true, signed: true },
    ]);
  });
});
