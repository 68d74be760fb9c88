/** koa-session's session:* events, and stores with only get/set/destroy. */
import Koa from "koa";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SessionEvent, SessionStore } from "../../src/index.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, cookie, cookieHeader, delay, makeApp, nextEvent, sessionCookie, sha256, viewCounter } from "./_util.js";

afterEach(() => {
  vi.useRealTimers();
});


describe("events", () => {
  it("session:missed for a signed id the store does not have", async () => {
    const store = new CountingStore();
    const app = makeApp({ store }, viewCounter);
    const pending = nextEvent<SessionEvent>(app, "session:missed");
    const id = "A".repeat(43);
    const r = await request(app.callback()).get("/").set("Cookie", sessionCookie(id));
    expect(r.text).toBe("1 views");
    const event = await pending;
    expect(event.key).toBe(sha256(id));
    expect(event.value).toBeNull();
    expect(store.calls.get).toBe(1);
  });

  it("session:expired for an entry past its _expire", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    const store = new CountingStore();
    const app = makeApp({ store, maxAge: 5000 }, viewCounter);
    const client = new Client(app.callback());
    await client.get("/");
    vi.setSystemTime(Date.now() + 6000); // past _expire, inside the store's 10 s grace
    const pending = nextEvent<SessionEvent>(app, "session:expired");
    const r = await request(app.callback()).get("/").set("Cookie", client.header());
    expect(r.text).toBe("1 views");
    const event = await pending;
    expect(event.key).toBe(sha256(client.jar.get("koa.sess") as string));
    expect(typeof event.value?._expire).toBe("number");
  });

  it("session:invalid when valid() says no", async () => {
    const valid = vi.fn((_ctx: Koa.Context, s: Record<string, unknown>) => s.views !== 2);
    const app = makeApp({ valid }, viewCounter);
    const client = new Client(app.callback());
    await client.get("/");
    await client.get("/");
    const pending = nextEvent<SessionEvent>(app, "session:invalid");
    expect((await client.get("/")).text).toBe("1 views");
    expect((await pending).value?.views).toBe(2);
    expect(valid).toHaveBeenCalled();
  });
});

/** Every session:* event an app emits, collected (they fire after the response, on a later turn). */
function recordEvents(app: Koa): Array<{ name: string; event: SessionEvent }> {
  const seen: Array<{ name: string; event: SessionEvent }> = [];
  for (const name of ["session:missed", "session:expired", "session:invalid"]) app.on(name, (event: SessionEvent) => seen.push({ name, event }));
  return seen;
}

describe("session:missed for a value that can't be one of our ids (koa-session emits it; we don't read the store)", () => {
  it("signed: false, a garbage cookie: one missed event (key undefined, value null), no store read, the cookie cleared", async () => {
    const store = new CountingStore();
    const app = makeApp({ store, signed: false }, viewCounter);
    const seen = recordEvents(app);
    const r = await request(app.callback()).get("/").set("Cookie", "koa.sess=invalid-key");
    expect(r.text).toBe("1 views");
    await delay(20);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.name).toBe("session:missed");
    expect(seen[0]?.event.key).toBeUndefined();
    expect(seen[0]?.event.value).toBeNull();
    expect(seen[0]?.event.ctx.path).toBe("/");
    expect(store.calls.get).toBe(0);
    expect(store.keys.has("invalid-key")).toBe(false);
    // The new session's cookie replaces it; with nothing saved, the garbage one is expired instead.
    expect(cookie(r)?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const readOnly = makeApp({ store, signed: false }, (ctx) => void (ctx.body = "ok"));
    const cleared = await request(readOnly.callback()).get("/").set("Cookie", "koa.sess=invalid-key");
    expect(cookie(cleared)?.value).toBe("");
  });

  it("signed: false, a well-formed id the store lacks: still one read and one missed event with the store key", async () => {
    const store = new CountingStore();
    const app = makeApp({ store, signed: false }, viewCounter);
    const seen = recordEvents(app);
    const id = "B".repeat(43);
    await request(app.callback()).get("/").set("Cookie", `koa.sess=${id}`);
    await delay(20);
    expect(seen.map(({ name, event }) => [name, event.key])).toEqual([["session:missed", sha256(id)]]);
    expect(store.calls.get).toBe(1);
  });

  it("externalKey returning garbage: one missed event per request, no store read; an empty key is no session and no event", async () => {
    const store = new CountingStore();
    const app = makeApp(
      { store, externalKey: { get: (ctx) => ctx.get("x-session"), set: (ctx, value) => ctx.set("x-session", value) } },
      viewCounter,
    );
    const seen = recordEvents(app);
    for (let i = 0; i < 2; i++) expect((await request(app.callback()).get("/").set("x-session", "not;an-id")).text).toBe("1 views");
    await request(app.callback()).get("/");
    await delay(20);
    expect(seen.map(({ name, event }) => [name, event.key, event.value])).toEqual([
      ["session:missed", undefined, null],
      ["session:missed", undefined, null],
    ]);
    expect(store.calls.get).toBe(0);
  });

  it("signed: true, a verified value that is not an id (the app signs other values under that name): missed, no read", async () => {
    const store = new CountingStore();
    const app = makeApp({ store }, viewCounter);
    const seen = recordEvents(app);
    await request(app.callback()).get("/").set("Cookie", sessionCookie("not-an-id"));
    await delay(20);
    expect(seen.map(({ name, event }) => [name, event.key, event.value])).toEqual([["session:missed", undefined, null]]);
    expect(store.calls.get).toBe(0);
  });

  it("a signed cookie whose signature fails is no event (koa-session's ctx.cookies.get returns nothing for it either)", async () => {
    const store = new CountingStore();
    const app = makeApp({ store }, viewCounter);
    const seen = recordEvents(app);
    await request(app.callback()).get("/").set("Cookie", "koa.sess=invalid-key; koa.sess.sig=forged");
    await delay(20);
    expect(seen).toEqual([]);
    expect(store.calls.get).toBe(0);
  });

  it("a custom genid widens what is looked up: its ids are read, a value no genid could return is not", async () => {
    const store = new CountingStore();
    const app = makeApp({ store, signed: false, genid: () => `tenant-${"x".repeat(30)}` }, viewCounter);
    const seen = recordEvents(app);
    await request(app.callback()).get("/").set("Cookie", "koa.sess=tenant-gone");
    await request(app.callback()).get("/").set("Cookie", `koa.sess=${"x".repeat(257)}`);
    await delay(20);
    expect(seen.map(({ event }) => event.key)).toEqual([sha256("tenant-gone"), undefined]);
    expect(store.calls.get).toBe(1);
  });
});

describe("store-less reads", () => {
  it("a store with only get/set/destroy works (no touch/merge)", async () => {
    const store: SessionStore = new CountingStore({ touch: false, merge: false });
    const client = new Client(makeApp({ store, rolling: true }, viewCounter).callback());
    await client.get("/");
    await delay(1);
    expect((await client.get("/")).text).toBe("2 views");
    expect(cookieHeader(await client.get("/"))).toMatch(/^koa\.sess=/);
  });
});
