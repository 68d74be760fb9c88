/**
 * The reference app with a dependency unreachable (Redis or PostgreSQL on a closed port): the session
 * store, the login throttle and the user database all fail closed with 503 + Retry-After and a short
 * JSON error; never a 500, never a stack trace, and never a login that skipped the throttle.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { createApp } from "../../app/app.js";
import { parseConfig } from "../../app/config.js";
import { isUnavailable } from "../../app/users/unavailable.js";
import { keyring } from "../../src/index.js";
import { COOKIE, loginJson, startTestApp, TEST_KEY } from "./helpers.js";

describe("the reference app while a dependency is down", () => {
  it("answers login 503 (throttle), a session cookie 503 (store), and no cookie 401", async () => {
    const t = await startTestApp({ SESSION_STORE: "redis", REDIS_URL: "redis://127.0.0.1:1" });
    try {
      const login = await loginJson(t.http(), "someone@example.com", "a password of some length");
      expect(login.status).toBe(503);
      expect(login.body).toEqual({ error: "Service temporarily unavailable" });
      expect(login.headers["retry-after"]).toBe("5");

      const anonymous = await t.http().get("/dashboard").set("Accept", "application/json");
      expect(anonymous.status).toBe(401);
      expect(anonymous.body).toEqual({ error: "Not authenticated" });

      // A correctly signed id must be looked up, and the lookup fails: 503, the cookie is kept.
      const id = "A".repeat(43);
      const cookie = `${COOKIE}=${id}; ${COOKIE}.sig=${keyring([TEST_KEY]).sign(`${COOKIE}=${id}`)}`;
      const withCookie = await t.http().get("/dashboard").set("Accept", "application/json").set("Cookie", cookie);
      expect(withCookie.status).toBe(503);
      expect(withCookie.body).toEqual({ error: "Service temporarily unavailable" });
      expect(withCookie.headers["retry-after"]).toBeDefined();
      expect(withCookie.headers["set-cookie"]).toBeUndefined();

      // A forged signature never reaches the store: the cookie is simply not a session.
      const forged = `${COOKIE}=${id}; ${COOKIE}.sig=${"B".repeat(43)}`;
      expect((await t.http().get("/dashboard").set("Accept", "application/json").set("Cookie", forged)).status).toBe(401);
    } finally {
      await t.close();
    }
  }, 20_000);

  it("logs an outage as one warning line without a stack, and shows a browser a 503 page, not JSON", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
    const dataDir = await mkdtemp(path.join(tmpdir(), "sk-app-outage-"));
    const config = { ...parseConfig({ DATA_DIR: dataDir, SESSION_STORE: "redis", REDIS_URL: "redis://127.0.0.1:1", SESSION_KEYS: TEST_KEY }), seedDemoUser: false };
    const handle = await createApp(config, { logger: pino({ level: "info" }, stream), throttleKeyPrefix: `test:${process.pid}:outage:` });
    try {
      const server = handle.app.callback();
      expect((await loginJson(request(server), "someone@example.com", "a password of some length")).status).toBe(503);
      const refused = lines.filter((line) => line.msg === "request refused: store unavailable");
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ level: 40, status: 503, code: "ERR_SESSIONKIT_THROTTLE_UNAVAILABLE", path: "/login" });
      expect(JSON.stringify(lines)).not.toMatch(/"stack"|\n\s+at /);

      const id = "A".repeat(43);
      const cookie = `${COOKIE}=${id}; ${COOKIE}.sig=${keyring([TEST_KEY]).sign(`${COOKIE}=${id}`)}`;
      const page = await request(server).get("/dashboard").set("Accept", "text/html").set("Cookie", cookie);
      expect(page.status).toBe(503);
      expect(page.headers["content-type"]).toMatch(/^text\/html/);
      expect(page.headers["retry-after"]).toBeDefined();
      expect(page.text).toContain("Service temporarily unavailable");
    } finally {
      await handle.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 20_000);

  it("a user database that can't be reached answers 503, not 500", async () => {
    const t = await startTestApp({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" });
    try {
      const login = await loginJson(t.http(), "someone@example.com", "a password of some length");
      expect(login.status).toBe(503);
      expect(login.body).toEqual({ error: "Service temporarily unavailable" });
      expect(login.headers["retry-after"]).toBe("5");
    } finally {
      await t.close();
    }
  }, 20_000);
});

describe("isUnavailable", () => {
  it("tells connection failures from other database errors", () => {
    const withCode = (code: string) => Object.assign(new Error("x"), { code });
    for (const error of [withCode("ECONNREFUSED"), withCode("57P01"), withCode("08006"), withCode("SQLITE_BUSY"), withCode("SQLITE_IOERR_WRITE"), new Error("Connection terminated unexpectedly")]) {
      expect(isUnavailable(error)).toBe(true);
    }
    expect(isUnavailable(new AggregateError([withCode("ECONNREFUSED")]))).toBe(true);
    for (const error of [withCode("23505"), withCode("42P01"), withCode("SQLITE_CONSTRAINT_UNIQUE"), new Error("syntax error"), "a string", null]) {
      expect(isUnavailable(error)).toBe(false);
    }
  });
});
