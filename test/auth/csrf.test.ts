import { bodyParser } from "@koa/bodyparser";
import Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session from "../../src/index.js";
import { csrf, csrfToken, login } from "../../src/auth/index.js";
import { cookieHeader, KEYS } from "./helpers.js";

function csrfApp(options: Parameters<typeof csrf>[0] = {}, proxy = false) {
  const app = new Koa({ proxy });
  app.keys = KEYS;
  app.use(session({}, app));
  app.use(bodyParser());
  app.use(csrf(options));
  app.use(async (ctx) => {
    if (ctx.path === "/form") {
      ctx.body = { token: csrfToken(ctx) };
      return;
    }
    if (ctx.path === "/login") {
      await login(ctx, { id: "1" });
      ctx.body = { token: csrfToken(ctx) };
      return;
    }
    ctx.body = { ok: true };
  });
  return app.callback();
}

describe("csrf: fetch metadata", () => {
  const server = csrfApp({ allowedOrigins: ["https://admin.example.com/"] });

  it("blocks a cross-site Origin", async () => {
    const res = await request(server).post("/api").set("Origin", "https://evil.example").send({ a: 1 });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: "Cross-site request blocked" });
    expect((await request(server).post("/api").set("Origin", "null").send({})).status).toBe(403);
  });

  it("blocks Sec-Fetch-Site: cross-site and same-site", async () => {
    expect((await request(server).delete("/api").set("Sec-Fetch-Site", "cross-site")).status).toBe(403);
    expect((await request(server).put("/api").set("Sec-Fetch-Site", "same-site").send({})).status).toBe(403);
  });

  it("passes same-origin requests, user-initiated ones, allowed origins and requests with neither header", async () => {
    const sameOrigin = await request(server).post("/api").set("Host", "app.example.com").set("Origin", "http://app.example.com").send({});
    expect(sameOrigin.status).toBe(200);
    expect((await request(server).post("/api").set("Sec-Fetch-Site", "same-origin").send({})).status).toBe(200);
    expect((await request(server).post("/api").set("Sec-Fetch-Site", "none").send({})).status).toBe(200);
    expect((await request(server).post("/api").set("Sec-Fetch-Site", "cross-site").set("Origin", "https://admin.example.com").send({})).status).toBe(200);
    expect((await request(server).post("/api").send({ a: 1 })).status).toBe(200);
    expect((await request(server).get("/api").set("Sec-Fetch-Site", "cross-site")).status).toBe(200);
  });

  it("honours X-Forwarded-Proto/Host for the request's origin only behind app.proxy", async () => {
    const headers = { "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", Origin: "https://app.example.com" };
    expect((await request(csrfApp({}, true)).post("/api").set(headers).send({})).status).toBe(200);
    expect((await request(csrfApp({}, false)).post("/api").set(headers).send({})).status).toBe(403);
  });

  it("rejects a malformed allowedOrigins entry at start-up", () => {
    expect(() => csrf({ allowedOrigins: ["not a url"] })).toThrow(/^koa-sessionkit:/);
  });
});

describe("csrf: form token", () => {
  it("a form post without a token is 403, with the session's token it passes", async () => {
    const server = csrfApp();
    const noSession = await request(server).post("/submit").type("form").send({ name: "x" });
    expect(noSession.status).toBe(403);
    expect(noSession.body).toEqual({ error: "Invalid CSRF token" });

    const page = await request(server).get("/form");
    const cookie = cookieHeader(page);
    expect(cookie).toMatch(/koa\.sess=/); // the login page's session is saved
    const token = page.body.token as string;

    expect((await request(server).post("/submit").set("Cookie", cookie).type("form").send({ name: "x" })).status).toBe(403);
    expect((await request(server).post("/submit").set("Cookie", cookie).type("form").send({ name: "x", _csrf: "A".repeat(86) })).status).toBe(403);
    expect((await request(server).post("/submit").set("Cookie", cookie).type("form").send({ name: "x", _csrf: token })).status).toBe(200);
    expect((await request(server).post("/submit").set("Cookie", cookie).set("x-csrf-token", token).type("form").send("name=x")).status).toBe(200);
    // An empty form post still needs the token.
    expect((await request(server).post("/submit").set("Cookie", cookie).set("Content-Type", "application/x-www-form-urlencoded")).status).toBe(403);
    // A token is bound to its session.
    const otherCookie = cookieHeader(await request(server).get("/form"));
    expect((await request(server).post("/submit").set("Cookie", otherCookie).type("form").send({ _csrf: token })).status).toBe(403);
  });

  it("tokens are masked per call, and login rotates the secret", async () => {
    const server = csrfApp();
    const page = await request(server).get("/form");
    const cookie = cookieHeader(page);
    const again = await request(server).get("/form").set("Cookie", cookie);
    expect(again.body.token).not.toBe(page.body.token);
    expect((await request(server).post("/x").set("Cookie", cookie).type("form").send({ _csrf: again.body.token })).status).toBe(200);

    const loggedIn = await request(server).post("/login").set("Cookie", cookie).set("x-csrf-token", page.body.token).type("form").send({});
    expect(loggedIn.status).toBe(200);
    const userCookie = cookieHeader(loggedIn, cookie);
    expect((await request(server).post("/x").set("Cookie", userCookie).type("form").send({ _csrf: page.body.token })).status).toBe(403);
    expect((await request(server).post("/x").set("Cookie", userCookie).type("form").send({ _csrf: loggedIn.body.token })).status).toBe(200);
  });

  it("JSON bodies need no token (they can't be sent cross-site without CORS)", async () => {
    expect((await request(csrfApp()).post("/api").send({ a: 1 })).status).toBe(200);
  });
});
