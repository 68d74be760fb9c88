/**
 * Cookie mode keeps each session only in its browser, so a copied cookie can't be destroyed. The
 * documented pattern (docs/auth.md, "Revoking cookie-mode sessions"): remember per user a "sessions
 * valid after" time, and end any session whose login is older. Proven here with a copied cookie.
 */
import Koa from "koa";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import session from "../../src/index.js";
import { authenticatedAt, currentUser, login, logout } from "../../src/auth/index.js";
import { cookieHeader, KEYS } from "./helpers.js";

function cookieModeApp() {
  /** What the app would keep in its user table. */
  const validAfter = new Map<string, number>();
  const app = new Koa();
  app.keys = KEYS;
  app.use(session({ mode: "cookie" }, app));
  // The revocation check: one lookup per logged-in request, before any route.
  app.use(async (ctx, next) => {
    const user = currentUser(ctx);
    const since = user ? validAfter.get(user.id) : undefined;
    if (user && since !== undefined && (authenticatedAt(ctx) ?? 0) <= since) await logout(ctx);
    await next();
  });
  app.use(async (ctx) => {
    if (ctx.path === "/login") {
      await login(ctx, { id: "u1" });
      ctx.body = { ok: true };
    } else if (ctx.path === "/logout-everywhere") {
      validAfter.set("u1", Date.now());
      await logout(ctx);
      ctx.body = { ok: true };
    } else {
      ctx.body = { user: currentUser(ctx)?.id ?? null, authAt: authenticatedAt(ctx) ?? null };
    }
  });
  return app.callback();
}

describe("revoking cookie-mode sessions with authenticatedAt", () => {
  afterEach(() => vi.useRealTimers());

  it("a copied cookie stops working after 'log out everywhere'; a later login works", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2030, 0, 1));
    const server = cookieModeApp();
    const original = cookieHeader(await request(server).post("/login"));
    const copy = original; // what an attacker lifted from the browser
    const me = await request(server).get("/me").set("Cookie", copy);
    expect(me.body).toEqual({ user: "u1", authAt: Date.UTC(2030, 0, 1) });

    vi.setSystemTime(Date.UTC(2030, 0, 1, 0, 5));
    await request(server).post("/logout-everywhere").set("Cookie", original);
    const replay = await request(server).get("/me").set("Cookie", copy);
    expect(replay.body).toEqual({ user: null, authAt: null });
    expect(String(replay.headers["set-cookie"])).toMatch(/koa\.sess=;/);

    vi.setSystemTime(Date.UTC(2030, 0, 1, 0, 6));
    const fresh = cookieHeader(await request(server).post("/login"));
    expect((await request(server).get("/me").set("Cookie", fresh)).body).toEqual({ user: "u1", authAt: Date.UTC(2030, 0, 1, 0, 6) });
  });

  it("authenticatedAt is undefined when nobody is logged in", async () => {
    const res = await request(cookieModeApp()).get("/me");
    expect(res.body).toEqual({ user: null, authAt: null });
  });
});
