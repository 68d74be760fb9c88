/**
 * connectStore through a real Koa app with session() + auth(): logins land in real express-session
 * stores, listSessions/logoutEverywhere work where the store has `all` and throw StoreCapabilityError
 * where it doesn't, and a connect store that errors, throws, rejects or never calls back gives the
 * same 503 + Retry-After as a built-in store, within storeTimeout, keeping the cookie.
 */
import type { Context } from "koa";
import expressSession from "express-session";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import { listSessions } from "../../src/auth/index.js";
import { connectStore, type ConnectStoreLike } from "../../src/stores/connect.js";
import { buildApp, cookieHeader } from "../auth/helpers.js";
import { CONNECT_BACKENDS, type ConnectHarness } from "../helpers/connect-stores.js";
import { requireService } from "../helpers/services.js";

const harnesses: ConnectHarness[] = [];
afterAll(async () => {
  for (const harness of harnesses) await harness.cleanup();
});

/** A route that reports a thrown error's code instead of letting Koa turn it into a 500. */
const sessionsOrCode = async (ctx: Context) => {
  try {
    ctx.body = await listSessions(ctx);
  } catch (error) {
    ctx.status = 501;
    ctx.body = { code: (error as { code?: string }).code };
  }
};

for (const backend of CONNECT_BACKENDS) {
  const up = backend.service === undefined ? true : await requireService(backend.service);

  describe.skipIf(!up)(`a Koa app on connectStore(${backend.name})`, () => {
    async function app() {
      const harness = await backend.make();
      harnesses.push(harness);
      return buildApp({ store: null, session: { store: connectStore(harness.connect) }, extra: { "GET /sessions": sessionsOrCode } }).server;
    }

    it("logs in, keeps the session across requests, and logs out", async () => {
      const server = await app();
      const cookie = cookieHeader(await request(server).post("/login?id=alice"));
      expect((await request(server).get("/me").set("Cookie", cookie)).body).toMatchObject({ id: "alice" });
      await request(server).post("/cart").set("Cookie", cookie).expect(200);
      expect((await request(server).get("/cart").set("Cookie", cookie)).body).toEqual({ cart: "apples" });
      await request(server).post("/logout").set("Cookie", cookie).expect(204);
      expect((await request(server).get("/me").set("Cookie", cookie)).status).toBe(401);
    });

    if (backend.lists) {
      it("lists a user's sessions and logs out everywhere (the store has all())", async () => {
        const server = await app();
        const laptop = cookieHeader(await request(server).post("/login?id=bob").set("User-Agent", "laptop"));
        const phone = cookieHeader(await request(server).post("/login?id=bob").set("User-Agent", "phone"));
        const other = cookieHeader(await request(server).post("/login?id=carol"));
        const list = (await request(server).get("/sessions").set("Cookie", phone)).body as { userAgent: string; current: boolean }[];
        expect(list.map((entry) => entry.userAgent).sort()).toEqual(["laptop", "phone"]);
        expect(list.find((entry) => entry.current)?.userAgent).toBe("phone");

        expect((await request(server).post("/logout-everywhere?except=1").set("Cookie", phone)).body).toEqual({ revoked: 1 });
        expect((await request(server).get("/me").set("Cookie", laptop)).status).toBe(401);
        expect((await request(server).get("/me").set("Cookie", phone)).status).toBe(200);
        expect((await request(server).get("/me").set("Cookie", other)).status).toBe(200);
      });
    } else {
      it("refuses listSessions with StoreCapabilityError (the store has no all())", async () => {
        const server = await app();
        const cookie = cookieHeader(await request(server).post("/login?id=dave"));
        const res = await request(server).get("/sessions").set("Cookie", cookie);
        expect(res.status).toBe(501);
        expect(res.body).toEqual({ code: "ERR_SESSIONKIT_STORE_CAPABILITY" });
      });
    }
  });
}

type Mode = "ok" | "error" | "throw" | "reject" | "silent";

/** express-session's MemoryStore, with a switch that makes every call fail in one of four ways. */
function flakyStore() {
  const inner = new expressSession.MemoryStore() as unknown as ConnectStoreLike;
  const state = { mode: "ok" as Mode };
  const wrap =
    (method: "get" | "set" | "destroy") =>
    (...args: unknown[]): unknown => {
      const callback = args.at(-1) as (error?: unknown) => void;
      switch (state.mode) {
        case "error":
          setImmediate(() => callback(new Error("connection lost")));
          return undefined;
        case "throw":
          throw new Error("driver bug");
        case "reject":
          return Promise.reject(new Error("pool exhausted"));
        case "silent":
          return undefined;
        default:
          return (inner[method] as (...params: unknown[]) => unknown).apply(inner, args);
      }
    };
  const store: ConnectStoreLike = { get: wrap("get"), set: wrap("set"), destroy: wrap("destroy") };
  return { store, state };
}

describe("a connect store that fails", () => {
  const { store, state } = flakyStore();
  const { app, server } = buildApp({ store: null, session: { store: connectStore(store), storeTimeout: 300 } });
  app.silent = true; // the 503s are expected; Koa would print each one

  it.each(["error", "throw", "reject", "silent"] as const)("%s: 503 + Retry-After on read, write and logout, then recovers with the same cookie", async (mode) => {
    state.mode = "ok";
    const cookie = cookieHeader(await request(server).post("/login?id=erin"));
    state.mode = mode;
    for (const call of [
      () => request(server).get("/me").set("Cookie", cookie),
      () => request(server).post("/login?id=frank"),
      () => request(server).post("/logout").set("Cookie", cookie),
    ]) {
      const started = Date.now();
      const res = await call();
      expect(res.status).toBe(503);
      // logout() throws inside the handler; session() answers it as it answers its own read or write.
      expect(res.body).toEqual({ error: "Service temporarily unavailable" });
      expect(res.headers["retry-after"]).toBeTruthy();
      // Bounded by storeTimeout (300 ms), not by the store, with room for a loaded machine; the default
      // storeTimeout (3000 ms) would fail this.
      expect(Date.now() - started).toBeLessThan(2000);
    }
    state.mode = "ok";
    expect((await request(server).get("/me").set("Cookie", cookie)).body).toMatchObject({ id: "erin" });
  });
});

describe("a connect store holding a corrupt entry", () => {
  it("reads it as no session (401, cookie kept), not a 503 on every request with that cookie", async () => {
    const inner = new expressSession.MemoryStore() as unknown as ConnectStoreLike & { sessions: Record<string, string> };
    const { app, server } = buildApp({ store: null, session: { store: connectStore(inner) } });
    const missed: unknown[] = [];
    app.on("session:missed", (event) => missed.push(event));
    const cookie = cookieHeader(await request(server).post("/login?id=gina"));
    const sids = Object.keys(inner.sessions);
    expect(sids).toHaveLength(1);
    // MemoryStore JSON.parses in get: this entry makes it throw a SyntaxError.
    inner.sessions[sids[0]!] = "{not json";
    const res = await request(server).get("/me").set("Cookie", cookie);
    expect(res.status).toBe(401);
    // Kept: a SyntaxError may be an outage in disguise, and clearing every cookie then signs everyone out.
    expect(res.headers["set-cookie"]).toBeUndefined();
    expect(missed).toHaveLength(1);
    // The cookie's owner can log in again at once.
    expect((await request(server).post("/login?id=gina").set("Cookie", cookie)).status).toBe(200);
  });
});
