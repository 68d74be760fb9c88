/**
 * The middleware over every built-in store, spoken in HTTP: a counter survives requests, logout kills
 * the session for good (a replayed cookie starts fresh), and two apps sharing one networked store
 * share sessions both ways.
 */
import { randomBytes } from "node:crypto";
import Koa from "koa";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import session from "../../src/index.js";
import type { SessionStore } from "../../src/stores/contract.js";
import { throwawayStores } from "../helpers/test-stores.js";
import { requireService } from "../helpers/services.js";

const redisUp = await requireService("redis");
const postgresUp = await requireService("postgres");
const keys = [randomBytes(32).toString("base64url"), randomBytes(32).toString("base64url")];
const suffix = randomBytes(4).toString("hex");
const { stores, cleanup } = throwawayStores(`mw_${suffix}`, { redis: redisUp, postgres: postgresUp });

afterAll(cleanup);

function makeApp(store: SessionStore): Koa {
  const app = new Koa();
  app.keys = keys;
  app.use(session({ store }, app));
  app.use((ctx) => {
    const current = ctx.session;
    if (!current) throw new Error("no session");
    if (ctx.path === "/logout") {
      ctx.session = null;
      ctx.body = { ok: true };
      return;
    }
    const views = typeof current.views === "number" ? current.views + 1 : 1;
    current.views = views;
    ctx.body = { views };
  });
  return app;
}

/** The Cookie header a browser would send back, from a response's Set-Cookie lines. */
function cookieOf(response: request.Response): string {
  const setCookie = response.headers["set-cookie"] as unknown as string[] | undefined;
  expect(setCookie, "the response sets a session cookie").toBeDefined();
  return (setCookie ?? []).map((line) => line.split(";")[0]).join("; ");
}

for (const { name, up, make } of stores) {
  describe.skipIf(!up)(`session() over ${name}`, () => {
    it("counts 1, 2, 3 with the cookie, and a replayed cookie after logout starts fresh", async () => {
      const app = makeApp(await make(randomBytes(3).toString("hex")));
      const server = app.callback();
      const first = await request(server).get("/").expect(200);
      expect(first.body).toEqual({ views: 1 });
      const cookie = cookieOf(first);
      expect((await request(server).get("/").set("Cookie", cookie).expect(200)).body).toEqual({ views: 2 });
      expect((await request(server).get("/").set("Cookie", cookie).expect(200)).body).toEqual({ views: 3 });

      await request(server).get("/logout").set("Cookie", cookie).expect(200);
      expect((await request(server).get("/").set("Cookie", cookie).expect(200)).body).toEqual({ views: 1 });
    });
  });
}

for (const { name, up, make } of stores.filter((entry) => entry.name === "RedisStore" || entry.name === "PostgresStore")) {
  describe.skipIf(!up)(`two apps sharing one ${name}`, () => {
    it("a session made on A is valid on B, and destroyed on B is gone on A", async () => {
      // Two store objects on the same keys/table, as two processes behind a load balancer would have.
      const shared = randomBytes(3).toString("hex");
      const a = makeApp(await make(shared)).callback();
      const b = makeApp(await make(shared)).callback();
      const cookie = cookieOf(await request(a).get("/").expect(200));
      expect((await request(b).get("/").set("Cookie", cookie).expect(200)).body).toEqual({ views: 2 });
      expect((await request(a).get("/").set("Cookie", cookie).expect(200)).body).toEqual({ views: 3 });
      await request(b).get("/logout").set("Cookie", cookie).expect(200);
      expect((await request(a).get("/").set("Cookie", cookie).expect(200)).body).toEqual({ views: 1 });
    });
  });
}
