/**
 * loginThrottle when its counter store is down (no service needed: the stores point at closed
 * ports). Attempts fail closed with ThrottleUnavailableError, which Koa answers 503 + Retry-After;
 * never a bare 500, and never an uncounted guess. A success that can't reset its counter still logs in.
 */
import { Redis } from "ioredis";
import Koa, { type Context } from "koa";
import pg from "pg";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import session from "../../src/index.js";
import { loginThrottle, ThrottleUnavailableError, type LoginThrottle } from "../../src/auth/index.js";
import { KEYS } from "./helpers.js";

const redis = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
const pool = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:1/none", connectionTimeoutMillis: 500 });
pool.on("error", () => undefined);
redis.on("error", () => undefined); // refused connections are the point here
afterAll(async () => {
  redis.disconnect();
  await pool.end();
});

const backends: Array<[string, () => LoginThrottle]> = [
  ["Redis", () => loginThrottle({ redis })],
  ["PostgreSQL", () => loginThrottle({ pg: pool, tableName: "sk_outage_never_created" })],
];

describe.each(backends)("loginThrottle with its %s down", (_name, make) => {
  it("check and fail reject with ThrottleUnavailableError (503, Retry-After); succeed does not throw", async () => {
    const throttle = make();
    const ctx = { ip: "203.0.113.9" } as Context;
    for (const call of [() => throttle.check(ctx, "a@example.com"), () => throttle.fail(ctx, "a@example.com")]) {
      const error = await call().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(ThrottleUnavailableError);
      expect(error).toMatchObject({ code: "ERR_SESSIONKIT_THROTTLE_UNAVAILABLE", status: 503, expose: false });
      expect((error as Error).message).toMatch(/^koa-sessionkit: .*refused with 503.*Check that the Redis, PostgreSQL or SQLite database/);
      expect((error as Error).cause).toBeInstanceOf(Error);
    }
    await expect(throttle.succeed(ctx, "a@example.com")).resolves.toBeUndefined();
  });

  it("a Koa app answers the attempt 503 with Retry-After, no internals, in session()'s JSON; the app's error event sees it", async () => {
    const throttle = make();
    const app = new Koa();
    app.keys = KEYS;
    const reported: unknown[] = [];
    app.on("error", (error: { code?: string }) => reported.push(error.code));
    app.use(session({}, app));
    app.use(async (ctx) => {
      // Set before the call fails: they described the body that never came, not the 503.
      ctx.set("Content-Encoding", "gzip");
      ctx.set("Content-Disposition", 'attachment; filename="export.csv"');
      ctx.set("X-Request-Id", "r1");
      const gate = await throttle.check(ctx, "a@example.com");
      ctx.body = gate;
    });
    const res = await request(app.callback()).post("/login").set("Accept", "application/json");
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error: "Service temporarily unavailable" });
    expect(res.headers["content-encoding"]).toBeUndefined();
    expect(res.headers["content-disposition"]).toBeUndefined();
    expect(res.headers["x-request-id"]).toBe("r1");
    expect(res.text).not.toMatch(/ECONNREFUSED|Stream|at /);
    expect(reported).toEqual(["ERR_SESSIONKIT_THROTTLE_UNAVAILABLE"]);
  });
});
