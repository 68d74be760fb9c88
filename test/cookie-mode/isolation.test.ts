/**
 * A returning sealed cookie is opened and parsed once per process from its second request on
 * (load.ts keeps a frozen template of flat sessions): whatever one request does to its ctx.session, the next request carrying the
 * same cookie must still see the session the cookie holds.
 */
import Koa from "koa";
import type { Context } from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session from "../../src/index.js";
import { cookieHeader, cookieValue, KEY_A } from "./helpers.js";

function app(data: Record<string, unknown>): Koa {
  const koa = new Koa();
  koa.keys = [KEY_A];
  koa.silent = true;
  // autoCommit off: a request that changes its session without committing sends no new cookie,
  // so the next request replays the very same sealed text (a cache hit).
  koa.use(session({ mode: "cookie", autoCommit: false }, koa));
  koa.use(async (ctx: Context) => {
    const current = ctx.session;
    if (!current) throw new Error("session missing");
    if (ctx.path === "/login") {
      Object.assign(current, structuredClone(data));
      await current.manuallyCommit();
      ctx.body = "ok";
    } else if (ctx.path === "/mutate") {
      current.user = "mallory";
      delete current.role;
      if (current.prefs) (current.prefs as { theme: string }).theme = "changed";
      ctx.body = "mutated";
    } else {
      ctx.body = { user: current.user, role: current.role, prefs: current.prefs, isNew: current.isNew };
    }
  });
  return koa;
}

describe("cookie mode: requests replaying one cookie never share a session object", () => {
  for (const [label, data] of [
    ["flat values (the shared frozen template)", { user: "alice", role: "admin" }],
    ["nested values (parsed per request)", { user: "alice", role: "admin", prefs: { theme: "dark" } }],
  ] as const) {
    it(label, async () => {
      const koa = app(data);
      const token = cookieValue(await request(koa.callback()).get("/login"));
      const replay = (path: string) => request(koa.callback()).get(path).set("Cookie", cookieHeader({ "koa.sess": token }));
      // The cache keeps a cookie from its second request on (VerifiedCache.offer), so the rounds
      // after the first run on the cached (and, for flat values, shared) template.
      for (let round = 0; round < 3; round++) {
        expect((await replay("/read")).body).toEqual({ ...data, isNew: false });
        const mutated = await replay("/mutate");
        expect(mutated.text).toBe("mutated");
        expect(mutated.headers["set-cookie"]).toBeUndefined();
      }
      expect((await replay("/read")).body).toEqual({ ...data, isNew: false });
    });
  }
});
