import Koa from "koa";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import session, { MemoryStore } from "../../src/index.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, ID_RE, KEY1, cookie, cookies, makeApp, sessionCookie, sha256, viewCounter } from "./_util.js";

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe("no store option: server-side memory", () => {
  it("the cookie holds only a 43-character id, never the data", async () => {
    const app = makeApp({}, (ctx) => {
      ctx.session!.secret = "top-secret-value-in-session";
      ctx.session!.views = ((ctx.session!.views as number) ?? 0) + 1;
      ctx.body = String(ctx.session!.views);
    });
    const client = new Client(app.callback());
    const r = await client.get("/");
    expect(cookie(r)?.value).toMatch(ID_RE);
    const all = cookies(r).map((c) => c.raw).join("\n");
    expect(all).not.toContain("top-secret");
    expect(all).not.toContain(Buffer.from("top-secret").toString("base64").slice(0, 8));
    expect(cookies(r).map((c) => c.name).sort()).toEqual(["koa.sess", "koa.sess.sig"]);
    expect((await client.get("/")).text).toBe("2");
  });

  it("sessions live in the process: another app instance (another process) cannot read them", async () => {
    const a = makeApp({}, viewCounter);
    const b = makeApp({}, viewCounter);
    const client = new Client(a.callback());
    await client.get("/");
    const r = await request(b.callback()).get("/").set("Cookie", client.header());
    expect(r.text).toBe("1 views");
  });
});

describe("MemoryStore bounds", () => {
  it("evicts the least recently used session past max", async () => {
    const store = new MemoryStore({ max: 2 });
    const handler = makeApp({ store }, viewCounter).callback();
    const a = new Client(handler);
    const b = new Client(handler);
    const c = new Client(handler);
    await a.get("/");
    await b.get("/");
    expect((await a.get("/")).text).toBe("2 views"); // a is now most recently used
    await c.get("/"); // evicts b
    expect(store.size).toBe(2);
    expect((await a.get("/")).text).toBe("3 views");
    expect((await c.get("/")).text).toBe("2 views");
    expect((await b.get("/")).text).toBe("1 views");
  });

  it("direct API: max entries and LRU order", () => {
    const store = new MemoryStore({ max: 3 });
    for (const k of ["a", "b", "c"]) store.set(k, { v: k }, 60_000);
    expect(store.get("a")?.v).toBe("a");
    store.set("d", { v: "d" }, 60_000);
    expect(store.size).toBe(3);
    expect(store.get("b")).toBeNull();
    expect(store.get("a")?.v).toBe("a");
    expect(store.get("d")?.v).toBe("d");
    expect(() => new MemoryStore({ max: 0 })).toThrow(/max/);
  });

  it("direct API at a larger size: sessions read recently survive eviction", () => {
    const store = new MemoryStore({ max: 100 });
    for (let i = 0; i < 100; i++) store.set(`k${i}`, { i }, 60_000);
    // The ten oldest are read (a returning user); the next ten are not.
    for (let i = 0; i < 10; i++) expect(store.get(`k${i}`)?.i).toBe(i);
    for (let i = 100; i < 110; i++) store.set(`k${i}`, { i }, 60_000);
    expect(store.size).toBe(100);
    for (let i = 0; i < 10; i++) expect(store.get(`k${i}`)?.i).toBe(i);
    for (let i = 10; i < 20; i++) expect(store.get(`k${i}`)).toBeNull();
  });

  // [max, distinct keys, operations, destroys in 10]: mixed; every key fits; far more keys than room
  // (evictions, so the queue's consumed head is cut off).
  it.each([
    [50, 120, 30_000, 1],
    [100, 100, 20_000, 1],
    [10, 5_000, 20_000, 1],
  ])("max %i, %i keys: evicts exactly in least-recently-used order over %i random reads, writes and destroys", (max, keys, steps, destroys) => {
    // The reference: a Map in recency order, an entry moving to the young end when read or written
    // while in the older half, the oldest evicted first (what MemoryStore did before its queue).
    const refreshAfter = max >> 1;
    const model = new Map<string, number>();
    let tick = 0;
    const touch = (key: string): void => {
      const at = model.get(key);
      if (at !== undefined && tick - at < refreshAfter) return;
      model.delete(key);
      model.set(key, ++tick);
    };
    const store = new MemoryStore({ max });
    let seed = 12345;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let step = 0; step < steps; step++) {
      const key = `k${random(keys)}`;
      const op = random(10);
      if (op < 5) {
        const found = store.get(key) !== null;
        expect(found, `step ${step}: get ${key}`).toBe(model.has(key));
        if (found) touch(key);
      } else if (op < 10 - destroys) {
        store.set(key, { step }, 3_600_000);
        touch(key);
        while (model.size > max) model.delete(model.keys().next().value as string);
      } else {
        store.destroy(key);
        model.delete(key);
      }
      expect(store.size).toBe(model.size);
    }
  });

  it("keeps its order after thousands of short-lived sessions (each set, then destroyed) while never full", () => {
    const store = new MemoryStore({ max: 100 });
    // Each leaves a stale pair in the eviction queue, which is rebuilt from the live entries.
    for (let i = 0; i < 5_000; i++) {
      store.set(`t${i}`, { i }, 60_000);
      store.destroy(`t${i}`);
    }
    expect(store.size).toBe(0);
    for (let i = 0; i < 100; i++) store.set(`a${i}`, { i }, 60_000);
    expect(store.get("a0")?.i).toBe(0); // in the older half: moves to the young end
    store.set("b", { i: -1 }, 60_000);
    expect(store.size).toBe(100);
    expect(store.get("a1")).toBeNull();
    expect(store.get("a0")?.i).toBe(0);
    expect(store.get("a2")?.i).toBe(2);
  });

  it("expires entries by TTL (fake clock)", async () => {
    let now = Date.now();
    const inner = new MemoryStore({ max: 100, now: () => now });
    const store = new CountingStore({ inner });
    const handler = makeApp({ store, maxAge: 60_000 }, viewCounter).callback();
    const client = new Client(handler);
    await client.get("/");
    const id = client.jar.get("koa.sess") as string;
    now += 30_000;
    expect((await client.get("/")).text).toBe("2 views");
    now += 60_000 + 10_000 + 1; // past maxAge and the store's grace
    expect(inner.get(sha256(id))).toBeNull();
    expect(inner.size).toBe(0);
    const r = await request(handler).get("/").set("Cookie", sessionCookie(id, KEY1));
    expect(r.text).toBe("1 views");
  });

  it("direct API: TTL", () => {
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now });
    store.set("k", { v: 1 }, 1000);
    now += 999;
    expect(store.get("k")?.v).toBe(1);
    now += 1;
    expect(store.get("k")).toBeNull();
    expect(store.size).toBe(0);
  });
});

describe("production warning", () => {
  it("warns exactly once when NODE_ENV=production", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    vi.stubEnv("NODE_ENV", "test");
    new MemoryStore();
    expect(warn).not.toHaveBeenCalled();
    vi.stubEnv("NODE_ENV", "production");
    const app = new Koa();
    app.keys = [KEY1];
    app.use(session({}, app)); // the default store
    app.use(viewCounter);
    new MemoryStore();
    new MemoryStore({ max: 5 });
    expect(warn).toHaveBeenCalledTimes(1);
    const [message, options] = warn.mock.calls[0] as unknown as [string, { code: string }];
    expect(message).toMatch(/^koa-sessionkit: .*MemoryStore.*production/);
    expect(options.code).toBe("KOA_SESSIONKIT_MEMORY_STORE");
    expect((await request(app.callback()).get("/")).text).toBe("1 views");
    vi.unstubAllEnvs();
    expect(process.env.NODE_ENV).not.toBe("production");
  });
});
