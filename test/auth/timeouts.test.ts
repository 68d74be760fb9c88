import request from "supertest";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { storeKeyFor } from "../../src/index.js";
import { buildApp, cookieHeader } from "./helpers.js";

const MINUTE = 60_000;

describe("idle and absolute timeouts (fake clock)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2030-01-01T00:00:00Z"));
  });
  afterEach(() => vi.useRealTimers());

  it("touches lastSeenAt at most once per touchInterval", async () => {
    const { server, store } = buildApp();
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    const before = { ...store!.calls };
    vi.advanceTimersByTime(10_000);
    await request(server).get("/me").set("Cookie", cookie);
    expect(store!.calls.touch).toBe(before.touch);
    expect(store!.calls.set).toBe(before.set);
    vi.advanceTimersByTime(MINUTE);
    await request(server).get("/me").set("Cookie", cookie);
    await request(server).get("/me").set("Cookie", cookie);
    expect(store!.calls.touch).toBe(before.touch + 1);
    expect(store!.calls.set).toBe(before.set);
    expect(store!.calls.merge).toBe(before.merge);
  });

  it("a short idleTimeout gets a touchInterval of a tenth of it; an explicit one too long is refused", async () => {
    const { server, store } = buildApp({ auth: { idleTimeout: MINUTE } });
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    // Active every 50 s (within the idle minute): lastSeenAt is touched each time, so the user stays in.
    for (let i = 0; i < 4; i++) {
      const touches = store!.calls.touch;
      vi.advanceTimersByTime(50_000);
      expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(200);
      expect(store!.calls.touch).toBe(touches + 1);
    }
    expect(() => buildApp({ auth: { idleTimeout: MINUTE, touchInterval: MINUTE } })).toThrow(/touchInterval \(60000 ms\) must be shorter than idleTimeout/);
  });

  it("ends a session idle for longer than idleTimeout; activity keeps it alive", async () => {
    const { server } = buildApp({ auth: { idleTimeout: 30 * MINUTE } });
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    for (let i = 0; i < 4; i++) {
      vi.advanceTimersByTime(20 * MINUTE);
      expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(200);
    }
    vi.advanceTimersByTime(31 * MINUTE);
    const res = await request(server).get("/whoami").set("Cookie", cookie);
    expect(res.body).toEqual({ user: null });
    expect(String(res.headers["set-cookie"])).toMatch(/koa\.sess=;/);
    // The entry is gone for good, even if the clock were turned back.
    vi.setSystemTime(Date.now() - 31 * MINUTE);
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(401);
  });

  it("ends a session at absoluteTimeout however active it is", async () => {
    const { server } = buildApp({ auth: { absoluteTimeout: 60 * MINUTE } });
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(11 * MINUTE);
      expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(200);
    }
    vi.advanceTimersByTime(6 * MINUTE);
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(401);
  });

  it("rolling: true (re-sent cookie on every request) never extends the absolute timeout", async () => {
    const { server } = buildApp({ session: { rolling: true, maxAge: 24 * 60 * MINUTE }, auth: { absoluteTimeout: 60 * MINUTE } });
    let cookie = cookieHeader(await request(server).post("/login?id=1"));
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(11 * MINUTE);
      const res = await request(server).get("/me").set("Cookie", cookie);
      expect(res.status).toBe(200);
      expect(res.headers["set-cookie"]).toBeDefined();
      cookie = cookieHeader(res, cookie);
    }
    vi.advanceTimersByTime(6 * MINUTE);
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(401);
  });

  it("the core itself rejects a session past absoluteExpiresAt (even without auth())", async () => {
    const { server } = buildApp({ session: { renew: true, maxAge: 24 * 60 * MINUTE }, auth: { absoluteTimeout: 60 * MINUTE } });
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    vi.advanceTimersByTime(61 * MINUTE);
    // /cart does not look at the login; the session is simply gone.
    const res = await request(server).post("/cart").set("Cookie", cookie);
    expect(res.status).toBe(200);
    expect((await request(server).get("/me").set("Cookie", cookieHeader(res, cookie))).status).toBe(401);
  });

  it("a stored session whose times are not numbers (hand-edited) counts as idle instead of never timing out", async () => {
    const { server, store } = buildApp();
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(200);
    const id = /koa\.sess=([^;]+)/.exec(cookie)?.[1] as string;
    const key = storeKeyFor(id);
    const stored = store!.get(key)!;
    store!.set(key, { ...stored, _sk: { ...stored._sk, lastSeenAt: "x", authAt: "y", createdAt: "z" } } as never, 24 * 60 * MINUTE);
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(401);
  });

  it("works in cookie mode too", async () => {
    const { server } = buildApp({ session: { mode: "cookie" }, store: null, auth: { idleTimeout: 10 * MINUTE } });
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    vi.advanceTimersByTime(5 * MINUTE);
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(200);
    vi.advanceTimersByTime(11 * MINUTE);
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(401);
  });
});
