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
    // A visitor without a session gets the secret in a sealed companion cookie: no session, no store entry.
    expect(cookie).toMatch(/^koa\.sess\.csrf=v1\./);
    expect(cookie).not.toMatch(/koa\.sess=/);
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
    const server = csrfApp();
    expect((await request(server).post("/api").send({ a: 1 })).status).toBe(200);
    for (const type of ["Application/JSON", " application/json ; charset=UTF-8", "application/merge-patch+json"]) {
      expect((await request(server).post("/api").set("Content-Type", type).send('{"a":1}')).status, type).toBe(200);
    }
    // No body and no Content-Type (a bare POST from curl) is no form post either.
    expect((await request(server).post("/api")).status).toBe(200);
  });

  /**
   * A browser compares media types case-insensitively and ignores parameters and whitespace, so each
   * of these goes cross-site without a preflight; the body parser reads the form ones as forms.
   */
  const SIMPLE_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"];
  const spellings = (type: string): string[] => {
    const [essence = "", ...parameters] = type.split(";");
    const params = parameters.length ? `;${parameters.join(";")}` : "";
    const mixed = essence.replace(/(^|[/-])([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
    return [
      mixed + params,
      essence.toUpperCase() + params,
      `${essence}; charset=UTF-8${params}`,
      ` ${mixed} ;charset=utf-8${params}`,
      `\t${essence.toUpperCase()}\t; foo="bar"${params}`,
    ];
  };

  it.each(SIMPLE_TYPES)("%s in any spelling needs the token, with parameters and whitespace", async (type) => {
    const server = csrfApp();
    const page = await request(server).get("/form");
    const cookie = cookieHeader(page);
    const token = page.body.token as string;
    for (const spelling of spellings(type)) {
      const body = type.startsWith("multipart") ? "--x--\r\n" : "a=1";
      const refused = await request(server).post("/logout").set("Cookie", cookie).set("Content-Type", spelling).send(body);
      expect(refused.status, spelling).toBe(403);
      expect(refused.body).toEqual({ error: "Invalid CSRF token" });
      const allowed = await request(server).post("/logout").set("Cookie", cookie).set("Content-Type", spelling).set("x-csrf-token", token).send(body);
      expect(allowed.status, spelling).toBe(200);
    }
  });

  it("any other body type, or a body without a type, needs the token too", async () => {
    const server = csrfApp();
    for (const type of ["application/xml", "text/html", "application/octet-stream", "application/json, text/plain", "text/plain+json"]) {
      expect((await request(server).post("/api").set("Content-Type", type).send("x")).status, type).toBe(403);
    }
    const untyped = await request(server).post("/api").set("Content-Type", "").send(Buffer.from("x"));
    expect(untyped.status).toBe(403);
  });
});
