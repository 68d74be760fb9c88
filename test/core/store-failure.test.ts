import type Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { collectUnhandledRejections } from "../helpers/unhandled.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, cookie, delay, makeApp, sha256 } from "./_util.js";

const GENERIC = { error: "Service temporarily unavailable" };

const unhandled = collectUnhandledRejections();

function setup(storeTimeout = 200) {
  const store = new CountingStore();
  const errors: Error[] = [];
  const app: Koa = makeApp({ store, storeTimeout }, (ctx) => {
    if (ctx.path === "/login") ctx.session!.user = "alice";
    if (ctx.path === "/change") ctx.session!.n = ((ctx.session!.n as number) ?? 0) + 1;
    ctx.body = { user: ctx.session!.user ?? null, n: ctx.session!.n ?? null };
  });
  app.on("error", (err: Error) => errors.push(err));
  return { store, errors, app, client: new Client(app.callback()) };
}

function expectGeneric503(r: request.Response) {
  expect(r.status).toBe(503);
  expect(r.headers["retry-after"]).toMatch(/^\d+$/);
  expect(r.headers["content-type"]).toMatch(/application\/json/);
  expect(r.body).toEqual(GENERIC);
  expect(r.text).not.toMatch(/ECONNREFUSED|secret-host|Error|at \S+ \(|koa-sessionkit/);
  expect(r.headers["set-cookie"]).toBeUndefined();
}

describe("store failures answer 503", () => {
  it("get rejects → 503, Retry-After, generic JSON, no Set-Cookie, nothing written; works again after recovery", async () => {
    const { store, errors, client } = setup();
    await client.get("/login");
    const id = client.jar.get("koa.sess");
    store.failOn("get");
    store.resetCounts();
    const r = await client.get("/change");
    expectGeneric503(r);
    expect(store.calls.get).toBe(1);
    expect(store.writes + store.calls.destroy + store.calls.touch).toBe(0);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error & { code?: string }).code).toBe("ERR_SESSIONKIT_STORE_UNAVAILABLE");
    expect((errors[0] as Error).cause).toBeInstanceOf(Error);
    expect(client.jar.get("koa.sess")).toBe(id);

    store.recover();
    const ok = await client.get("/change");
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ user: "alice", n: 1 });
  });

  it("get throwing synchronously is also a 503", async () => {
    const { store, client } = setup();
    await client.get("/login");
    store.failOn("get", "throw");
    expectGeneric503(await client.get("/"));
  });

  it("a hanging get → 503 within storeTimeout, no unhandled rejection", async () => {
    const { store, client } = setup(200);
    await client.get("/login");
    store.failOn("get", "hang");
    const started = Date.now();
    const r = await client.get("/change");
    const took = Date.now() - started;
    expectGeneric503(r);
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1500);
    await delay(300);
    expect(unhandled.list).toEqual([]);
    store.recover();
    expect((await client.get("/")).body.user).toBe("alice");
  });

  it("a late rejection after the timeout is swallowed (no unhandled rejection)", async () => {
    const { store, client } = setup(100);
    await client.get("/login");
    const inner = store.inner;
    const realGet = inner.get.bind(inner);
    inner.get = () => new Promise((_, reject) => setTimeout(() => reject(new Error("late failure")), 250));
    expectGeneric503(await client.get("/"));
    await delay(400);
    expect(unhandled.list).toEqual([]);
    inner.get = realGet;
    expect((await client.get("/")).status).toBe(200);
  });

  it("set rejects during commit of a new session → 503, no cookie issued, nothing stored", async () => {
    const { store, client } = setup();
    store.failOn("set");
    const r = await client.get("/login");
    expectGeneric503(r);
    expect(client.jar.size).toBe(0);
    store.recover();
    const ok = await client.get("/login");
    expect(ok.status).toBe(200);
    expect(cookie(ok)).toBeDefined();
  });

  it("merge/set rejects while saving a change to an existing session → 503, cookie kept, data unchanged", async () => {
    const { store, client } = setup();
    await client.get("/login");
    const key = sha256(client.jar.get("koa.sess") as string);
    store.failOn(["set", "merge"]);
    expectGeneric503(await client.get("/change"));
    expect((await store.peek(key))?.n).toBeUndefined();
    store.recover();
    expect((await client.get("/change")).body).toEqual({ user: "alice", n: 1 });
  });

  it("a hanging write → 503 within storeTimeout", async () => {
    const { store, client } = setup(200);
    await client.get("/login");
    store.failOn(["set", "merge"], "hang");
    const started = Date.now();
    expectGeneric503(await client.get("/change"));
    expect(Date.now() - started).toBeLessThan(1500);
    await delay(250);
    expect(unhandled.list).toEqual([]);
  });

  it("destroy rejects on logout → 503 and the cookie is not cleared", async () => {
    const store = new CountingStore();
    const app = makeApp({ store, storeTimeout: 200 }, (ctx) => {
      if (ctx.path === "/login") ctx.session!.user = "alice";
      if (ctx.path === "/logout") ctx.session = null;
      ctx.body = "ok";
    });
    app.on("error", () => undefined);
    const client = new Client(app.callback());
    await client.get("/login");
    const key = sha256(client.jar.get("koa.sess") as string);
    store.failOn("destroy");
    expectGeneric503(await client.get("/logout"));
    expect(await store.peek(key)).toBeTruthy();
    store.recover();
    const out = await client.get("/logout");
    expect(out.status).toBe(200);
    expect(await store.peek(key)).toBeNull();
  });

  it("the handler's own error wins over a failing commit", async () => {
    const store = new CountingStore();
    const app = makeApp({ store }, (ctx) => {
      ctx.session!.x = 1;
      ctx.throw(418, "teapot");
    });
    app.on("error", () => undefined);
    store.failOn("set");
    const r = await request(app.callback()).get("/");
    expect(r.status).toBe(418);
  });
});

describe("autoCommit: false and a failing manual commit", () => {
  function manualApp(awaited: boolean) {
    const store = new CountingStore();
    const caught: unknown[] = [];
    const events: string[] = [];
    const app = makeApp({ store, autoCommit: false, onEvent: (event) => events.push(event.event) }, async (ctx) => {
      ctx.session!.x = 1;
      const saving = ctx.session!.manuallyCommit();
      // koa-session's habit of not awaiting: with a store down, koa-session's rejection went unhandled
      // and Node stopped the process.
      if (awaited) await saving.catch((err: unknown) => caught.push(err));
      ctx.body = "ok";
    });
    app.on("error", () => undefined);
    store.failOn("set");
    return { app, caught, events };
  }

  it("not awaited: no unhandled rejection (the process goes on), the failure is the store.error audit event", async () => {
    const { app, events } = manualApp(false);
    const r = await request(app.callback()).get("/");
    expect(r.status).toBe(200);
    await delay(20);
    expect(unhandled.list).toEqual([]);
    expect(events).toEqual(["store.error"]);
  });

  it("awaited: the promise still rejects with the store's error, for the handler to answer", async () => {
    const { app, caught } = manualApp(true);
    expect((await request(app.callback()).get("/")).status).toBe(200);
    expect(caught).toHaveLength(1);
    expect((caught[0] as { code?: string }).code).toBe("ERR_SESSIONKIT_STORE_UNAVAILABLE");
    expect(unhandled.list).toEqual([]);
  });
});

describe("a store that can't parse what it holds (a corrupt entry)", () => {
  // A koa-session-style store that JSON.parses in get, as many hand-written ones do.
  function parsingStore(asynchronous: boolean) {
    const data = new Map<string, string>();
    const store = {
      data,
      get: (key: string) => {
        const text = data.get(key);
        if (text === undefined) return asynchronous ? Promise.resolve(undefined) : undefined;
        if (!asynchronous) return JSON.parse(text) as Record<string, unknown>;
        return Promise.resolve().then(() => JSON.parse(text) as Record<string, unknown>);
      },
      set: (key: string, session: unknown) => {
        data.set(key, JSON.stringify(session));
        return asynchronous ? Promise.resolve() : undefined;
      },
      destroy: (key: string) => {
        data.delete(key);
        return asynchronous ? Promise.resolve() : undefined;
      },
    };
    return store;
  }

  for (const asynchronous of [false, true]) {
    it(`${asynchronous ? "async" : "sync"} get throwing SyntaxError: a fresh session (200), the cookie kept, a write in such a request stores a new session, a store.error event each`, async () => {
      const store = parsingStore(asynchronous);
      const events: string[] = [];
      const app = makeApp({ store, onEvent: (event) => events.push(`${event.event}: ${event.reason ?? ""}`) }, (ctx) => {
        if (ctx.path === "/login") ctx.session!.user = "alice";
        if (ctx.path === "/write") ctx.session!.n = 1;
        ctx.body = { user: ctx.session!.user ?? null, isNew: ctx.session!.isNew };
      });
      const errors: unknown[] = [];
      app.on("error", (err: unknown) => errors.push(err));
      const client = new Client(app.callback());
      await client.get("/login");
      const id = client.jar.get("koa.sess") as string;
      const sig = client.jar.get("koa.sess.sig") as string;
      store.data.set(sha256(id), "{corrupt");
      const read = await client.get("/");
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ user: null, isNew: true });
      // Kept, not cleared: a SyntaxError may be an outage in disguise (an HTTP store parsing a proxy's
      // error page), and clearing every cookie then would sign everyone out.
      expect(read.headers["set-cookie"]).toBeUndefined();
      expect(events).toEqual(["store.error: get found an entry that does not parse; read as no session, cookie kept"]);
      // The same corrupt entry, and this time the handler writes: the read's failure must not
      // have spent the request's store budget, so the new session is stored.
      const write = await request(app.callback()).get("/write").set("Cookie", `koa.sess=${id}; koa.sess.sig=${sig}`);
      expect(write.status).toBe(200);
      expect(cookie(write)?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(cookie(write)?.value).not.toBe(id);
      expect(store.data.size).toBe(2);
      expect(events).toHaveLength(2);
      expect(errors).toEqual([]);
      expect(unhandled.list).toEqual([]);
    });
  }
});
