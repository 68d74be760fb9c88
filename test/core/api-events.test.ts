/** koa-session's session:* events, and stores with only get/set/destroy. */
import Koa from "koa";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SessionEvent, SessionStore } from "../../src/index.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, cookieHeader, delay, makeApp, nextEvent, sessionCookie, sha256, viewCounter } from "./_util.js";

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
