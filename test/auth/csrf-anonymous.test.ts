/**
 * The CSRF secret of a visitor with no stored session lives in a sealed companion cookie
 * (`<key>.csrf`), not in a new session: a page that shows a form (a login page) writes nothing to
 * the store, so loading it in a loop without cookies can't fill the store.
 */
import { bodyParser } from "@koa/bodyparser";
import Koa from "koa";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import session, { MemoryStore } from "../../src/index.js";
import type { SessionOptions } from "../../src/index.js";
import { csrf, csrfToken, login } from "../../src/auth/index.js";
import { cookieHeader, KEYS } from "./helpers.js";

class CountingMemory extends MemoryStore {
  writes = 0;
  override set(...args: Parameters<MemoryStore["set"]>): void {
    this.writes++;
    super.set(...args);
  }
}

function csrfApp(options: SessionOptions = {}) {
  const app = new Koa();
  app.keys = KEYS;
  const store = new CountingMemory();
  app.use(session(options.mode === "cookie" ? options : { store, ...options }, app));
  app.use(bodyParser());
  app.use(csrf());
  app.use(async (ctx) => {
    if (ctx.path === "/form") ctx.body = { token: csrfToken(ctx) };
    else if (ctx.path === "/cart") {
      ctx.session!.cart = "apples";
      ctx.body = { token: csrfToken(ctx) };
    } else if (ctx.path === "/login") {
      await login(ctx, { id: "1" });
      ctx.body = { token: csrfToken(ctx) };
    } else ctx.body = { ok: true };
  });
  return { server: app.callback(), store };
}

const setCookies = (res: request.Response): string[] => (res.headers["set-cookie"] ?? []) as unknown as string[];
const post = (server: ReturnType<typeof csrfApp>["server"], cookie: string, token: string) =>
  request(server).post("/submit").set("Cookie", cookie).type("form").send({ _csrf: token });

afterEach(() => vi.restoreAllMocks());

describe("csrf: a visitor without a session", () => {
  it("gets the secret in a sealed companion cookie; showing the form 200 times writes nothing to the store", async () => {
    const { server, store } = csrfApp();
    const page = await request(server).get("/form");
    const lines = setCookies(page);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^koa\.sess\.csrf=v1\.[A-Za-z0-9_-]+; path=\/; samesite=lax; httponly$/);
    for (let i = 0; i < 200; i++) await request(server).get("/form");
    expect(store.writes).toBe(0);
    expect(store.size).toBe(0);
    expect((await post(server, cookieHeader(page), page.body.token as string)).status).toBe(200);
  });

  it("the token is bound to its companion: another visitor's, a tampered or an expired one is refused", async () => {
    const { server } = csrfApp();
    const page = await request(server).get("/form");
    const cookie = cookieHeader(page);
    const token = page.body.token as string;
    expect((await post(server, cookieHeader(await request(server).get("/form")), token)).status).toBe(403);
    const value = cookie.slice(cookie.indexOf("=") + 1);
    const flipped = value.slice(0, 20) + (value[20] === "A" ? "B" : "A") + value.slice(21);
    expect((await post(server, `koa.sess.csrf=${flipped}`, token)).status).toBe(403);
    // Hostile companions are a 403, never a 5xx.
    for (const hostile of ["", "v1.", "v1.!!!", "garbage", `v1.${"A".repeat(9000)}`, "%E0%A4%A"]) {
      expect((await post(server, `koa.sess.csrf=${hostile}`, token)).status).toBe(403);
    }
    // The sealed value is bound to its name: under another cookie name it opens to nothing.
    expect((await post(server, `other.csrf=${value}`, token)).status).toBe(403);
    const now = Date.now();
    vi.spyOn(Date, "now").mockReturnValue(now + 2 * 60 * 60 * 1000 + 1000);
    expect((await post(server, cookie, token)).status).toBe(403);
  });

  it("a form shown again past its companion's half-life renews the companion, keeping the secret", async () => {
    const { server } = csrfApp();
    const start = Date.now();
    const first = await request(server).get("/form");
    const cookie = cookieHeader(first);
    const clock = vi.spyOn(Date, "now");
    // Early reloads reuse the companion as it is: no Set-Cookie on every page load.
    clock.mockReturnValue(start + 30 * 60 * 1000);
    const early = await request(server).get("/form").set("Cookie", cookie);
    expect(setCookies(early)).toHaveLength(0);
    // A reload at 1 h 50 min: the same secret in a companion good for 2 h from now.
    clock.mockReturnValue(start + 110 * 60 * 1000);
    const late = await request(server).get("/form").set("Cookie", cookie);
    expect(setCookies(late)).toHaveLength(1);
    const renewed = cookieHeader(late);
    expect(renewed).not.toBe(cookie);
    // 2 h 30 min after the first load: the old companion has expired, the renewed one holds, and the
    // tokens of both pages (another tab's too) unmask to the same secret.
    clock.mockReturnValue(start + 150 * 60 * 1000);
    expect((await post(server, cookie, first.body.token as string)).status).toBe(403);
    expect((await post(server, renewed, late.body.token as string)).status).toBe(200);
    expect((await post(server, renewed, first.body.token as string)).status).toBe(200);
    // Without another reload it ends 2 h after the renewal.
    clock.mockReturnValue(start + 231 * 60 * 1000);
    expect((await post(server, renewed, late.body.token as string)).status).toBe(403);
  });

  it("a visitor whose session is stored keeps the secret in the session, as before", async () => {
    const { server, store } = csrfApp();
    const cart = await request(server).post("/cart").set("Sec-Fetch-Site", "same-origin").send({});
    expect(setCookies(cart).some((line) => line.startsWith("koa.sess.csrf="))).toBe(false);
    const cookie = cookieHeader(cart);
    expect(store.size).toBe(1);
    const page = await request(server).get("/form").set("Cookie", cookie);
    expect(setCookies(page)).toHaveLength(0);
    expect((await post(server, cookie, page.body.token as string)).status).toBe(200);
  });

  it("login expires the companion, and a token from before the login is refused after it", async () => {
    const { server } = csrfApp();
    const page = await request(server).get("/form");
    const anonCookie = cookieHeader(page);
    const loggedIn = await request(server).post("/login").set("Cookie", anonCookie).type("form").send({ _csrf: page.body.token });
    expect(loggedIn.status).toBe(200);
    expect(setCookies(loggedIn).some((line) => /^koa\.sess\.csrf=;.*expires=Thu, 01 Jan 1970/.test(line))).toBe(true);
    const userCookie = cookieHeader(loggedIn, anonCookie);
    expect(userCookie).not.toMatch(/koa\.sess\.csrf=/);
    expect((await post(server, userCookie, page.body.token as string)).status).toBe(403);
    expect((await post(server, userCookie, loggedIn.body.token as string)).status).toBe(200);
    // A companion kept from before the login (a client that ignored the expiry) counts for nothing.
    expect((await post(server, `${userCookie}; ${anonCookie}`, page.body.token as string)).status).toBe(403);
  });

  it("cookie mode keeps the secret in the session cookie (it writes no store entry anyway)", async () => {
    const { server } = csrfApp({ mode: "cookie" });
    const page = await request(server).get("/form");
    const lines = setCookies(page);
    expect(lines.some((line) => line.startsWith("koa.sess="))).toBe(true);
    expect(lines.some((line) => line.startsWith("koa.sess.csrf="))).toBe(false);
    expect((await post(server, cookieHeader(page), page.body.token as string)).status).toBe(200);
  });

  it("a store-mode app without keys (signed: false) has nothing to seal with: the secret goes into a stored session", async () => {
    const app = new Koa();
    const store = new CountingMemory();
    app.use(session({ store, signed: false }, app));
    app.use(bodyParser());
    app.use(csrf());
    app.use((ctx) => {
      ctx.body = ctx.path === "/form" ? { token: csrfToken(ctx) } : { ok: true };
    });
    const server = app.callback();
    const page = await request(server).get("/form");
    expect(setCookies(page).some((line) => line.startsWith("koa.sess.csrf="))).toBe(false);
    expect(store.size).toBe(1);
    expect((await post(server, cookieHeader(page), page.body.token as string)).status).toBe(200);
  });

  it("externalKey (a session id in a header, whose clients may keep no cookies) keeps the secret in the session", async () => {
    const externalKey = {
      get: (ctx: Koa.Context) => ctx.get("x-session") || undefined,
      set: (ctx: Koa.Context, value: string) => ctx.set("x-session", value),
    };
    const { server, store } = csrfApp({ externalKey });
    const page = await request(server).get("/form");
    expect(setCookies(page)).toHaveLength(0);
    const id = page.headers["x-session"] as string;
    expect(id).toBeTruthy();
    expect(store.size).toBe(1);
    const ok = await request(server).post("/submit").set("x-session", id).type("form").send({ _csrf: page.body.token });
    expect(ok.status).toBe(200);
  });
});
