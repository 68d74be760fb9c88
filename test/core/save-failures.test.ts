/**
 * A save() that fails, or that loses to a parallel logout, in the middle of a handler (found by an
 * outsider probe of the synchronous write path): never an unhandled rejection, never a null
 * ctx.session under the handler's feet, and a store whose then() throws is an outage like any other.
 */
import request from "supertest";
import { describe, expect, it } from "vitest";
import { collectUnhandledRejections } from "../helpers/unhandled.js";
import { MemoryStore } from "../../src/stores/memory.js";
import type { SessionStore } from "../../src/stores/contract.js";
import { Client, cookie, delay, isExpired, makeApp, sha256 } from "./_util.js";

const unhandled = collectUnhandledRejections();

describe("an un-awaited save() that fails at once", () => {
  it("cookie mode, too large for a cookie, then shrunk: no unhandled rejection, the commit writes what the handler left", async () => {
    const handler = makeApp({ mode: "cookie" }, (ctx) => {
      ctx.session!.big = "x".repeat(5000);
      void ctx.session!.save();
      delete ctx.session!.big;
      ctx.session!.small = 1;
      ctx.body = "ok";
    }).callback();
    const r = await request(handler).get("/");
    await delay(20);
    expect(unhandled.list).toEqual([]);
    expect(r.status).toBe(200);
    const client = new Client(handler);
    client.absorb(r);
    expect(client.jar.get("koa.sess")).toMatch(/^v1\./);
  });

  it("store mode, a value JSON can't hold, then removed: no unhandled rejection, the awaited form still sees the error", async () => {
    const seen: string[] = [];
    const store = new MemoryStore();
    const handler = makeApp({ store }, async (ctx) => {
      ctx.session!.v = 10n;
      if (ctx.path === "/awaited") await ctx.session!.save().catch((err: Error) => seen.push(err.name));
      else void ctx.session!.save();
      delete ctx.session!.v;
      ctx.session!.ok = 1;
      ctx.body = "ok";
    }).callback();
    for (const path of ["/", "/awaited"]) {
      const r = await request(handler).get(path);
      expect(r.status).toBe(200);
      expect(cookie(r)?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    await delay(20);
    expect(unhandled.list).toEqual([]);
    expect(seen).toEqual(["TypeError"]);
    expect(store.size).toBe(2);
  });

  it("still fails its request when the failure repeats at the commit (too large to the end: 500)", async () => {
    const errors: unknown[] = [];
    const app = makeApp({ mode: "cookie" }, (ctx) => {
      ctx.session!.big = "x".repeat(5000);
      void ctx.session!.save();
      ctx.body = "ok";
    });
    app.on("error", (err: unknown) => errors.push(err));
    const r = await request(app.callback()).get("/");
    await delay(20);
    expect(unhandled.list).toEqual([]);
    expect(r.status).toBe(500);
    expect((errors[0] as { code?: string }).code).toBe("ERR_SESSIONKIT_SESSION_TOO_LARGE");
  });
});

describe("a save that loses to a parallel logout", () => {
  function raceApp() {
    const store = new MemoryStore();
    let release: () => void = () => undefined;
    const errors: unknown[] = [];
    const app = makeApp({ store }, async (ctx) => {
      if (ctx.path === "/login") ctx.session!.user = "bob";
      if (ctx.path === "/logout") ctx.session = null;
      if (ctx.path === "/slow" || ctx.path === "/slow-awaited") {
        ctx.session!.seen = 1;
        await new Promise<void>((resolve) => (release = resolve));
        ctx.session!.a = 1;
        if (ctx.path === "/slow") void ctx.session!.save();
        else await ctx.session!.save();
        ctx.session!.b = 2; // the session is gone, but the handler's object is still there
      }
      ctx.body = "done";
    });
    app.on("error", (err: unknown) => errors.push(err));
    return { store, errors, handler: app.callback(), release: () => release() };
  }

  for (const path of ["/slow", "/slow-awaited"]) {
    it(`${path}: the handler runs on (200), the cookie is cleared, nothing is written back`, async () => {
      const { store, errors, handler, release } = raceApp();
      const client = new Client(handler);
      await client.get("/login");
      const id = client.jar.get("koa.sess") as string;
      const slow = request(handler).get(path).set("Cookie", client.header()).then((response) => response);
      await delay(30);
      const out = await request(handler).get("/logout").set("Cookie", client.header());
      expect(out.status).toBe(200);
      release();
      const r = await slow;
      expect(errors).toEqual([]);
      expect(r.status).toBe(200);
      expect(isExpired(cookie(r))).toBe(true);
      expect(store.get(sha256(id))).toBeNull();
      expect(store.size).toBe(0);
    });
  }
});

describe("a store whose then() throws", () => {
  it("is a 503 with Retry-After like any failed call, and leaves no timer to report a timeout later", async () => {
    const inner = new MemoryStore();
    const store: SessionStore = {
      get: (key) => inner.get(key),
      set: () => ({ then: () => { throw new Error("then() blew up"); } }) as unknown as Promise<void>,
      destroy: (key) => inner.destroy(key),
    };
    const events: string[] = [];
    const app = makeApp({ store, storeTimeout: 50, onEvent: (event) => events.push(`${event.event} ${event.reason ?? ""}`) }, (ctx) => {
      ctx.session!.a = 1;
      ctx.body = "ok";
    });
    app.on("error", () => undefined);
    const r = await request(app.callback()).get("/");
    expect(r.status).toBe(503);
    expect(r.headers["retry-after"]).toMatch(/^\d+$/);
    await delay(120);
    expect(events).toEqual(["store.error set failed"]);
    expect(unhandled.list).toEqual([]);
  });
});
