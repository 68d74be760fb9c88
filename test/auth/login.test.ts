import request from "supertest";
import { describe, expect, it } from "vitest";
import { storeKeyFor } from "../../src/index.js";
import { buildApp, cookieHeader } from "./helpers.js";

function sessionId(cookie: string): string {
  const match = /koa\.sess=([^;]+)/.exec(cookie);
  if (!match?.[1]) throw new Error(`no session cookie in ${cookie}`);
  return match[1];
}

describe("login (store mode)", () => {
  it("regenerates the id, drops anonymous data and destroys the old entry", async () => {
    const { server, store } = buildApp();
    const anon = await request(server).post("/cart");
    const anonCookie = cookieHeader(anon);
    const oldKey = storeKeyFor(sessionId(anonCookie));
    expect(store!.has(oldKey)).toBe(true);

    const res = await request(server).post("/login?id=42&role=admin").set("Cookie", anonCookie).set("User-Agent", "U".repeat(400));
    expect(res.body).toEqual({ ok: true, session: { userId: "42", role: "admin" } });
    const userCookie = cookieHeader(res, anonCookie);
    expect(sessionId(userCookie)).not.toBe(sessionId(anonCookie));
    expect(store!.destroyed).toContain(oldKey);
    expect(store!.has(oldKey)).toBe(false);

    const stored = store!.get(storeKeyFor(sessionId(userCookie)));
    expect(stored?._sk).toMatchObject({ userId: "42", ip: expect.any(String) });
    expect(stored?._sk?.userAgent).toHaveLength(256);
    expect(stored?._sk?.absoluteExpiresAt).toBe((stored?._sk?.authAt ?? 0) + 12 * 3_600_000);
    expect(stored).not.toHaveProperty("cart");

    // The old cookie is worth nothing now.
    expect((await request(server).get("/me").set("Cookie", anonCookie)).status).toBe(401);
    expect((await request(server).get("/cart").set("Cookie", anonCookie)).body).toEqual({ cart: null });
    expect((await request(server).get("/me").set("Cookie", userCookie)).body).toEqual({ id: "42", role: "admin" });
  });

  it("login gives the session the session() maxAge back: a short anonymous lifetime does not carry over", async () => {
    const DAY = 86_400_000;
    const { server, store } = buildApp({
      session: { maxAge: DAY },
      extra: {
        "GET /form": (ctx) => {
          ctx.session!.csrf = "secret";
          ctx.session!.maxAge = 60_000;
          ctx.body = { ok: true };
        },
      },
    });
    const anon = await request(server).get("/form");
    const anonCookie = cookieHeader(anon);
    const anonExpires = Date.parse(/expires=([^;]+)/i.exec(String(anon.headers["set-cookie"]))?.[1] ?? "");
    expect(anonExpires - Date.now()).toBeLessThanOrEqual(60_000);
    expect(store!.get(storeKeyFor(sessionId(anonCookie)))?._maxAge).toBe(60_000);

    const res = await request(server).post("/login?id=7").set("Cookie", anonCookie);
    const line = (res.headers["set-cookie"] as unknown as string[]).find((l) => l.startsWith("koa.sess="));
    const expires = Date.parse(/expires=([^;]+)/i.exec(line ?? "")?.[1] ?? "");
    expect(expires - Date.now()).toBeGreaterThan(DAY - 60_000);
    expect(store!.get(storeKeyFor(sessionId(cookieHeader(res, anonCookie))))?._maxAge).toBe(DAY);
  });

  it("the user id is metadata: setting ctx.session.userId does not log anyone in", async () => {
    const { server } = buildApp({
      extra: {
        "POST /forge": (ctx) => {
          ctx.session!.userId = "1";
          ctx.body = {};
        },
      },
    });
    const res = await request(server).post("/forge");
    expect((await request(server).get("/me").set("Cookie", cookieHeader(res))).status).toBe(401);
  });

  it("logout destroys the entry and expires the cookie; replaying the cookie gets 401", async () => {
    const { server, store } = buildApp();
    const cookie = cookieHeader(await request(server).post("/login?id=7"));
    const key = storeKeyFor(sessionId(cookie));
    expect(store!.has(key)).toBe(true);
    const out = await request(server).post("/logout").set("Cookie", cookie);
    expect(out.status).toBe(204);
    expect(String(out.headers["set-cookie"])).toMatch(/koa\.sess=;.*expires=Thu, 01 Jan 1970/);
    expect(store!.has(key)).toBe(false);
    expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(401);
  });

  it("rejects a missing or empty user id", async () => {
    const { login } = await import("../../src/auth/index.js");
    const { app } = buildApp();
    const ctx = app.createContext({ headers: {} } as never, {} as never);
    await expect(login(ctx, { id: "" })).rejects.toThrow(/^koa-sessionkit: login/);
  });
});

describe("login (cookie mode)", () => {
  it("logs in and out with the sealed cookie", async () => {
    const { server } = buildApp({ session: { mode: "cookie" }, store: null });
    const anon = cookieHeader(await request(server).post("/cart"));
    const res = await request(server).post("/login?id=9").set("Cookie", anon);
    expect(res.body.session).toEqual({ userId: "9" });
    const cookie = cookieHeader(res, anon);
    expect(cookie).not.toBe(anon);
    expect((await request(server).get("/me").set("Cookie", cookie)).body).toEqual({ id: "9" });
    expect((await request(server).get("/cart").set("Cookie", cookie)).body).toEqual({ cart: null });
    const out = await request(server).post("/logout").set("Cookie", cookie);
    expect(String(out.headers["set-cookie"])).toMatch(/koa\.sess=;/);
    expect((await request(server).get("/me").set("Cookie", cookieHeader(out, cookie))).status).toBe(401);
  });

  it("list/revoke need a store: StoreCapabilityError names the fix", async () => {
    const { app, server } = buildApp({ session: { mode: "cookie" }, store: null });
    const errors: unknown[] = [];
    app.on("error", (err) => errors.push(err));
    app.silent = true;
    const cookie = cookieHeader(await request(server).post("/login?id=9"));
    expect((await request(server).get("/sessions").set("Cookie", cookie)).status).toBe(500);
    expect(errors[0]).toMatchObject({ code: "ERR_SESSIONKIT_STORE_CAPABILITY" });
    expect((errors[0] as Error).message).toMatch(/^koa-sessionkit: .*RedisStore, PostgresStore, SqliteStore or MemoryStore/);
  });
});
