import request from "supertest";
import { describe, expect, it, vi } from "vitest";
import type { SessionStore } from "../../src/index.js";
import { buildApp, cookieHeader, CountingStore } from "./helpers.js";

type Listed = { id: string; current: boolean; createdAt: number; lastSeenAt: number; expiresAt: number; ip?: string; userAgent?: string };

describe("a user's sessions", () => {
  it("lists both logins with opaque handles and marks the current one", async () => {
    const { server } = buildApp();
    const laptop = cookieHeader(await request(server).post("/login?id=u1").set("User-Agent", "laptop"));
    const phone = cookieHeader(await request(server).post("/login?id=u1").set("User-Agent", "phone"));
    cookieHeader(await request(server).post("/login?id=someone-else"));

    const list = (await request(server).get("/sessions").set("Cookie", phone)).body as Listed[];
    expect(list).toHaveLength(2);
    expect(list.map((s) => s.userAgent).sort()).toEqual(["laptop", "phone"]);
    expect(list.find((s) => s.current)?.userAgent).toBe("phone");
    for (const entry of list) {
      expect(entry.id).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(phone).not.toContain(entry.id);
      expect(laptop).not.toContain(entry.id);
      expect(entry.expiresAt).toBeGreaterThan(entry.createdAt);
    }
    // A handle is not a session cookie.
    const fake = `koa.sess=${list[0]!.id}`;
    expect((await request(server).get("/me").set("Cookie", fake)).status).toBe(401);
  });

  it("leaves out sessions past their idle or absolute timeout, and says when each listed one really ends", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const t0 = Date.parse("2030-01-01T00:00:00Z");
      vi.setSystemTime(t0);
      const MINUTE = 60_000;
      // The store keeps entries for a day (maxAge); auth() ends them after 10 idle minutes or 30 in all.
      const { server } = buildApp({ session: { maxAge: 86_400_000 }, auth: { idleTimeout: 10 * MINUTE, absoluteTimeout: 30 * MINUTE } });
      cookieHeader(await request(server).post("/login?id=u9").set("User-Agent", "idle laptop"));
      const phone = cookieHeader(await request(server).post("/login?id=u9").set("User-Agent", "phone"));
      vi.setSystemTime(t0 + 8 * MINUTE);
      let list = (await request(server).get("/sessions").set("Cookie", phone)).body as Listed[];
      expect(list.map((s) => s.userAgent).sort()).toEqual(["idle laptop", "phone"]);
      expect(list.find((s) => s.userAgent === "idle laptop")?.expiresAt).toBe(t0 + 10 * MINUTE);

      vi.setSystemTime(t0 + 16 * MINUTE); // the laptop has been idle 16 minutes; the phone was seen at 8
      list = (await request(server).get("/sessions").set("Cookie", phone)).body as Listed[];
      expect(list.map((s) => s.userAgent)).toEqual(["phone"]);
      // Idle end as stored: last seen at 8 + 10 (this request's touch is written after the handler).
      expect(list[0]?.expiresAt).toBe(t0 + 18 * MINUTE);

      vi.setSystemTime(t0 + 24 * MINUTE);
      await request(server).get("/me").set("Cookie", phone); // seen at 24: idle end 34
      vi.setSystemTime(t0 + 25 * MINUTE);
      list = (await request(server).get("/sessions").set("Cookie", phone)).body as Listed[];
      expect(list[0]?.expiresAt).toBe(t0 + 30 * MINUTE); // now the absolute end comes first
    } finally {
      vi.useRealTimers();
    }
  });

  it("logoutEverywhere({ exceptCurrent }) ends the others and keeps this one", async () => {
    const { server } = buildApp();
    const a = cookieHeader(await request(server).post("/login?id=u2"));
    const b = cookieHeader(await request(server).post("/login?id=u2"));
    const c = cookieHeader(await request(server).post("/login?id=u2"));
    const res = await request(server).post("/logout-everywhere?except=1").set("Cookie", c);
    expect(res.body).toEqual({ revoked: 2 });
    expect((await request(server).get("/me").set("Cookie", a)).status).toBe(401);
    expect((await request(server).get("/me").set("Cookie", b)).status).toBe(401);
    expect((await request(server).get("/me").set("Cookie", c)).status).toBe(200);

    const all = await request(server).post("/logout-everywhere").set("Cookie", c);
    expect(all.body).toEqual({ revoked: 1 });
    expect((await request(server).get("/me").set("Cookie", c)).status).toBe(401);
  });

  it("revokeSession only ends sessions of the same user", async () => {
    const { server } = buildApp();
    const mine1 = cookieHeader(await request(server).post("/login?id=alice"));
    const mine2 = cookieHeader(await request(server).post("/login?id=alice"));
    const theirs = cookieHeader(await request(server).post("/login?id=mallory"));

    const aliceList = (await request(server).get("/sessions").set("Cookie", mine1)).body as Listed[];
    const other = aliceList.find((s) => !s.current)!;
    // Mallory can't revoke Alice's session with its handle.
    expect((await request(server).post(`/revoke?handle=${other.id}`).set("Cookie", theirs)).body).toEqual({ revoked: false });
    expect((await request(server).get("/me").set("Cookie", mine2)).status).toBe(200);
    // Alice can.
    expect((await request(server).post(`/revoke?handle=${other.id}`).set("Cookie", mine1)).body).toEqual({ revoked: true });
    expect((await request(server).get("/me").set("Cookie", mine2)).status).toBe(401);
    expect((await request(server).get("/me").set("Cookie", mine1)).status).toBe(200);
    // Garbage handles are simply false.
    expect((await request(server).post("/revoke?handle=../../etc").set("Cookie", mine1)).body).toEqual({ revoked: false });
    // Revoking the current session logs this request out.
    const current = ((await request(server).get("/sessions").set("Cookie", mine1)).body as Listed[])[0]!;
    const res = await request(server).post(`/revoke?handle=${current.id}`).set("Cookie", mine1);
    expect(res.body).toEqual({ revoked: true });
    expect((await request(server).get("/me").set("Cookie", cookieHeader(res, mine1))).status).toBe(401);
  });

  it("nobody logged in: empty list, 0 revoked", async () => {
    const { server } = buildApp();
    expect((await request(server).get("/sessions")).body).toEqual([]);
    expect((await request(server).post("/logout-everywhere")).body).toEqual({ revoked: 0 });
  });

  it("a store without listByUser/destroyByUser throws StoreCapabilityError", async () => {
    const data = new Map<string, string>();
    const basic: SessionStore = {
      get: (key) => (data.has(key) ? JSON.parse(data.get(key)!) : null),
      set: (key, value) => void data.set(key, JSON.stringify(value)),
      destroy: (key) => void data.delete(key),
    };
    const { app } = buildApp({ session: { store: basic } });
    const errors: Error[] = [];
    app.silent = true;
    app.on("error", (err: Error) => errors.push(err));
    const cookie = cookieHeader(await request(app.callback()).post("/login?id=x"));
    expect((await request(app.callback()).post("/logout-everywhere").set("Cookie", cookie)).status).toBe(500);
    expect(errors[0]).toMatchObject({ code: "ERR_SESSIONKIT_STORE_CAPABILITY" });
    expect(errors[0]!.message).toMatch(/destroyByUser.*RedisStore, PostgresStore, SqliteStore or MemoryStore/);
  });

  it("a failing or hanging user index answers 503 with Retry-After, never a 500", async () => {
    for (const failure of ["reject", "hang"] as const) {
      const store = new CountingStore();
      const { server } = buildApp({ store, session: { storeTimeout: 200 } });
      const cookie = cookieHeader(await request(server).post("/login?id=u1"));
      const broken = failure === "reject" ? () => Promise.reject(new Error("connection reset")) : () => new Promise<never>(() => {});
      store.listByUser = broken;
      store.destroyByUser = broken;
      for (const [method, path] of [["get", "/sessions"], ["post", "/logout-everywhere?except=1"], ["post", `/revoke?handle=${"a".repeat(32)}`]] as const) {
        const res = await request(server)[method](path).set("Cookie", cookie);
        expect(res.status, `${failure} ${path}`).toBe(503);
        expect(res.headers["retry-after"]).toBe("5");
        expect(res.text).not.toMatch(/connection reset/);
      }
    }
  });
});
