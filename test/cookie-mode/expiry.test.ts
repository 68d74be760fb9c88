/**
 * Security property: the server enforces a sealed cookie's lifetime. Issued-at and expiry travel
 * inside the sealed payload, so a copied cookie, or one the browser was told to delete, stops
 * working at its expiry whatever the client does with Expires. rolling/renew re-seal with a new expiry.
 */
import request from "supertest";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SessionEvent, StoredSession } from "../../src/index.js";
import { cookieApp, cookieHeader, cookieValue, KEY_A, setCookies } from "./helpers.js";

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function at(offsetMs: number): void {
  vi.setSystemTime(T0 + offsetMs);
}

/** The Expires attribute as ms (second precision, as sent). */
function expiresOf(res: request.Response): number {
  return new Date(setCookies(res).get("koa.sess")?.attributes.expires ?? "").getTime();
}

describe("cookie mode: server-enforced expiry", () => {
  beforeEach(() => {
    // Only Date is faked: supertest's sockets keep their real timers.
    vi.useFakeTimers({ toFake: ["Date"] });
    at(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function get(app: ReturnType<typeof cookieApp>["app"], path: string, token: string) {
    return request(app.callback()).get(path).set("Cookie", cookieHeader({ "koa.sess": token }));
  }

  it("a copied cookie works until maxAge and is rejected after it, although a client can still send it", async () => {
    const { app, errors } = cookieApp([KEY_A], { maxAge: MINUTE });
    const login = await request(app.callback()).get("/login");
    const copy = cookieValue(login);
    expect(expiresOf(login)).toBe(T0 + MINUTE);

    at(MINUTE - 1000);
    expect((await get(app, "/whoami", copy)).body).toEqual({ user: "alice", isNew: false });

    at(MINUTE + 1);
    const late = await get(app, "/whoami", copy);
    expect(late.status).toBe(200);
    expect(late.body).toEqual({ user: null, isNew: true });
    expect(setCookies(late).get("koa.sess")?.value).toBe(""); // and the dead cookie is cleared

    at(365 * DAY);
    expect((await get(app, "/whoami", copy)).body).toEqual({ user: null, isNew: true });
    expect(errors).toEqual([]);
  });

  it("a cookie the browser was told to delete on logout stops working at its expiry", async () => {
    const { app } = cookieApp([KEY_A], { maxAge: MINUTE });
    const copy = cookieValue(await request(app.callback()).get("/login"));
    const logout = await get(app, "/logout", copy);
    expect(setCookies(logout).get("koa.sess")?.value).toBe("");

    // A cookie-only session cannot be revoked early (no server state): a kept copy lives to its expiry...
    at(MINUTE / 2);
    expect((await get(app, "/whoami", copy)).body.user).toBe("alice");
    // ...and not a millisecond longer. Use mode "store" when logout must be immediate.
    at(MINUTE + 1);
    expect((await get(app, "/whoami", copy)).body).toEqual({ user: null, isNew: true });
  });

  it('maxAge "session" cookies still expire on the server after one day', async () => {
    const { app } = cookieApp([KEY_A], { maxAge: "session" });
    const login = await request(app.callback()).get("/login");
    const copy = cookieValue(login);
    expect(setCookies(login).get("koa.sess")?.attributes.expires).toBeUndefined();

    at(DAY - 1000);
    expect((await get(app, "/whoami", copy)).body.user).toBe("alice");
    at(DAY + 1);
    expect((await get(app, "/whoami", copy)).body).toEqual({ user: null, isNew: true });
  });

  it('maxAge "session": a browser that keeps using it keeps it past a day (re-sealed once half the day is gone), as koa-session', async () => {
    const { app } = cookieApp([KEY_A], { maxAge: "session" });
    let token = cookieValue(await request(app.callback()).get("/login"));
    const resealedAt: number[] = [];
    for (let hour = 1; hour <= 30; hour++) {
      at(hour * 60 * MINUTE);
      const res = await get(app, "/whoami", token);
      expect(res.body.user, `hour ${hour}`).toBe("alice");
      const next = setCookies(res).get("koa.sess");
      if (next) {
        expect(next.attributes.expires).toBeUndefined(); // still a browser-session cookie
        token = next.value;
        resealedAt.push(hour);
      }
    }
    // Reads cost no Set-Cookie until less than half of the seal's day is left.
    expect(resealedAt).toEqual([13, 26]);
  });

  it("rolling re-seals on every response with a new expiry; the old copy still dies at its own", async () => {
    const { app } = cookieApp([KEY_A], { maxAge: MINUTE, rolling: true });
    const first = cookieValue(await request(app.callback()).get("/login"));

    at(30_000);
    const rolled = await get(app, "/whoami", first);
    expect(rolled.body.user).toBe("alice");
    const second = cookieValue(rolled);
    expect(second).not.toBe(first);
    expect(expiresOf(rolled)).toBe(T0 + 30_000 + MINUTE);

    at(MINUTE + 10_000);
    expect((await get(app, "/whoami", first)).body.user).toBeNull(); // the old token's own expiry
    const again = await get(app, "/whoami", second);
    expect(again.body.user).toBe("alice");
    expect(expiresOf(again)).toBe(T0 + MINUTE + 10_000 + MINUTE);

    at(30_000 + MINUTE + 1);
    expect((await get(app, "/whoami", second)).body.user).toBeNull();
  });

  it("renew re-seals only when less than half of maxAge remains", async () => {
    const { app } = cookieApp([KEY_A], { maxAge: MINUTE, renew: true });
    const first = cookieValue(await request(app.callback()).get("/login"));

    at(20_000);
    const early = await get(app, "/whoami", first);
    expect(early.body.user).toBe("alice");
    expect(setCookies(early).has("koa.sess")).toBe(false);

    at(40_000);
    const renewed = await get(app, "/whoami", first);
    expect(renewed.body.user).toBe("alice");
    expect(expiresOf(renewed)).toBe(T0 + 40_000 + MINUTE);
    const second = cookieValue(renewed);

    at(90_000);
    expect((await get(app, "/whoami", first)).body.user).toBeNull();
    expect((await get(app, "/whoami", second)).body.user).toBe("alice");
  });

  it("session:expired carries the expired session (as koa-session's cookie sessions do), through decode too", async () => {
    for (const options of [{}, { encode: (v: object) => JSON.stringify(v), decode: (t: string) => JSON.parse(t) as StoredSession }]) {
      const { app } = cookieApp([KEY_A], { maxAge: MINUTE, ...options });
      at(0);
      const copy = cookieValue(await request(app.callback()).get("/login"));
      const events: SessionEvent[] = [];
      app.on("session:expired", (event: SessionEvent) => events.push(event));
      at(MINUTE + 1);
      expect((await get(app, "/whoami", copy)).body.user).toBeNull();
      await new Promise((resolve) => setImmediate(resolve));
      expect(events).toHaveLength(1);
      expect(events[0]?.key).toBeUndefined();
      expect(events[0]?.value).toMatchObject({ user: "alice", _expire: T0 + MINUTE });
    }
  });
});
