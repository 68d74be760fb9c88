import request from "supertest";
import type Koa from "koa";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, cookie, cookies, makeApp, sha256 } from "./_util.js";

afterEach(() => {
  vi.useRealTimers();
});

type Cart = { items: string[] };

const routes: Koa.Middleware = (ctx) => {
  const s = ctx.session;
  switch (ctx.path) {
    case "/create":
      s!.user = "alice";
      s!.cart = { items: ["apple"] };
      s!.count = 1;
      break;
    case "/read":
      ctx.body = { user: s!.user ?? null, items: (s!.cart as Cart | undefined)?.items ?? null };
      return;
    case "/touch-empty":
      ctx.body = { isNew: s!.isNew, length: s!.length };
      return;
    case "/push":
      (s!.cart as Cart).items.push("pear");
      break;
    case "/restore":
      s!.count = 2;
      s!.count = 1;
      s!.tmp = "x";
      delete s!.tmp;
      break;
    case "/same-object":
      s!.cart = { items: [...(s!.cart as Cart).items] };
      break;
    case "/deep-same":
      (s!.cart as Cart).items.push("kiwi");
      (s!.cart as Cart).items.pop();
      break;
  }
  ctx.body = "ok";
};

function setup(options: Parameters<typeof makeApp>[0] = {}) {
  const store = new CountingStore();
  const app = makeApp({ store, ...options }, routes);
  const client = new Client(app.callback());
  return { store, app, client };
}

describe("change detection", () => {
  it("a request that only reads: exactly 1 get, 0 writes, no Set-Cookie", async () => {
    const { store, client } = setup();
    await client.get("/create");
    store.resetCounts();
    const r = await client.get("/read");
    expect(r.body).toEqual({ user: "alice", items: ["apple"] });
    expect(store.calls).toEqual({ get: 1, set: 0, destroy: 0, touch: 0, merge: 0 });
    expect(r.headers["set-cookie"]).toBeUndefined();
  });

  it("no cookie and the handler never touches the session: 0 store calls, no Set-Cookie", async () => {
    const { store, client } = setup();
    const r = await client.get("/nothing");
    expect(r.text).toBe("ok");
    expect(store.total).toBe(0);
    expect(r.headers["set-cookie"]).toBeUndefined();
  });

  it("a new session that stays empty is not stored and sends no cookie", async () => {
    const { store, client } = setup();
    const r = await client.get("/touch-empty");
    expect(r.body).toEqual({ isNew: true, length: 0 });
    expect(store.total).toBe(0);
    expect(r.headers["set-cookie"]).toBeUndefined();
  });

  it("a nested change (cart.items.push) is detected and saved", async () => {
    const { store, client } = setup();
    await client.get("/create");
    store.resetCounts();
    await client.get("/push");
    expect(store.writes).toBe(1);
    const stored = await store.peek(sha256(client.jar.get("koa.sess") as string));
    expect(stored?.cart).toEqual({ items: ["apple", "pear"] });
    expect((await client.get("/read")).body.items).toEqual(["apple", "pear"]);
  });

  it("a nested change is also detected with a store that has no merge (set)", async () => {
    const store = new CountingStore({ merge: false });
    const client = new Client(makeApp({ store }, routes).callback());
    await client.get("/create");
    store.resetCounts();
    await client.get("/push");
    expect(store.calls.set).toBe(1);
    expect((await client.get("/read")).body.items).toEqual(["apple", "pear"]);
  });

  it("changing then restoring the same value writes nothing", async () => {
    const { store, client } = setup();
    await client.get("/create");
    store.resetCounts();
    for (const path of ["/restore", "/same-object", "/deep-same"]) {
      const r = await client.get(path);
      expect(r.headers["set-cookie"], path).toBeUndefined();
    }
    expect(store.writes).toBe(0);
    expect(store.calls.touch).toBe(0);
  });

  it("rolling: cookie re-sent and the store touched (not set), data not rewritten", async () => {
    const { store, client } = setup({ rolling: true, maxAge: 60_000 });
    await client.get("/create");
    const key = sha256(client.jar.get("koa.sess") as string);
    const before = await store.peek(key);
    store.resetCounts();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const r = await client.get("/read");
    expect(cookie(r)?.value).toBe(client.jar.get("koa.sess"));
    expect(cookie(r, "koa.sess.sig")).toBeDefined();
    expect(store.calls).toEqual({ get: 1, set: 0, destroy: 0, touch: 1, merge: 0 });
    const after = await store.peek(key);
    expect(after?._expire).toBeGreaterThan(before?._expire as number);
    const { _expire: _a, _sk: _b, ...dataBefore } = before ?? {};
    const { _expire: _c, _sk: _d, ...dataAfter } = after ?? {};
    expect(dataAfter).toEqual(dataBefore);
  });

  it("rolling with a session-less request still sends nothing", async () => {
    const { store, client } = setup({ rolling: true });
    const r = await client.get("/nothing");
    expect(r.headers["set-cookie"]).toBeUndefined();
    expect(store.total).toBe(0);
  });

  it("renew only when less than half of maxAge remains (touch, not set)", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: new Date("2030-01-01T00:00:00Z") });
    const { store, client } = setup({ renew: true, maxAge: 100_000 });
    await client.get("/create");
    const firstExpires = Date.parse(String(cookie(await request(client.handler).get("/create"))?.attrs.expires));
    expect(firstExpires).toBeGreaterThan(0);
    store.resetCounts();

    vi.setSystemTime(new Date("2030-01-01T00:00:40Z")); // 60 s of 100 s remain
    const early = await client.get("/read");
    expect(cookies(early)).toHaveLength(0);
    expect(store.calls).toMatchObject({ set: 0, touch: 0, merge: 0 });

    vi.setSystemTime(new Date("2030-01-01T00:01:00Z")); // 40 s remain
    const late = await client.get("/read");
    const c = cookie(late);
    expect(c?.value).toBe(client.jar.get("koa.sess"));
    expect(Date.parse(String(c?.attrs.expires))).toBe(Date.parse("2030-01-01T00:02:40Z"));
    expect(store.calls).toMatchObject({ set: 0, touch: 1, merge: 0 });

    store.resetCounts();
    const again = await client.get("/read"); // renewed: a full maxAge remains again
    expect(cookies(again)).toHaveLength(0);
    expect(store.writes + store.calls.touch).toBe(0);
  });

  it("a removed key is a change", async () => {
    const store = new CountingStore();
    const client = new Client(
      makeApp({ store }, (ctx) => {
        if (ctx.path === "/create") ctx.session!.a = 1;
        if (ctx.path === "/create") ctx.session!.b = 2;
        if (ctx.path === "/remove") delete ctx.session!.b;
        ctx.body = ctx.session!.toJSON();
      }).callback(),
    );
    await client.get("/create");
    store.resetCounts();
    await client.get("/remove");
    expect(store.writes).toBe(1);
    expect((await client.get("/")).body).toEqual({ a: 1 });
  });
});
