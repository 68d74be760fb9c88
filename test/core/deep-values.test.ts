/**
 * A handler may store client-supplied JSON (`ctx.session.prefs = body.prefs`), and JSON.parse accepts
 * nesting far deeper than any recursive algorithm survives. Such a value must be saved, loaded,
 * compared and merged like any other, in store mode (the default memory store and the real stores)
 * and cookie mode, never a 500 from a stack overflow.
 */
import { randomBytes } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import Koa from "koa";
import type { Context } from "koa";
import request from "supertest";
import { afterAll, describe, expect, it, vi } from "vitest";
import session, { type SessionOptions } from "../../src/index.js";
import type { SessionStore, StoredSession } from "../../src/stores/contract.js";
import { stringifyJson } from "../../src/stores/deep-json.js";
import { requireService } from "../helpers/services.js";
import { throwawayStores } from "../helpers/test-stores.js";

const redisUp = await requireService("redis");
const postgresUp = await requireService("postgres");
const keys = [randomBytes(32).toString("base64url")];
const { stores, cleanup } = throwawayStores(`deep_${randomBytes(4).toString("hex")}`, { redis: redisUp, postgres: postgresUp });
afterAll(cleanup);

const DEPTHS = [10_000, 100_000];

/** `[[[…["leaf"]…]]]` as the JSON text a client would send. */
function deepText(depth: number, leaf = "leaf"): string {
  return `${"[".repeat(depth)}${JSON.stringify(leaf)}${"]".repeat(depth)}`;
}

/** Depth and innermost value of a nested array, measured without recursion. */
function measure(value: unknown): { depth: number; leaf: unknown } {
  let depth = 0;
  let cursor = value;
  while (Array.isArray(cursor)) {
    depth++;
    cursor = cursor[0];
  }
  return { depth, leaf: cursor };
}

async function body(ctx: Context): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Routes:
 *   POST /deep       ctx.session.deep = JSON.parse(request body)
 *   GET  /read       { depth, leaf, views } without changing anything
 *   POST /bump       views + 1 (a shallow change next to the deep value: a merge)
 *   POST /leaf       the innermost value becomes the request body (a change deep inside)
 */
function deepApp(options: SessionOptions): { app: Koa; errors: unknown[] } {
  const app = new Koa();
  app.keys = keys;
  app.silent = true;
  const errors: unknown[] = [];
  app.on("error", (err: unknown) => errors.push(err));
  app.use(session(options, app));
  app.use(async (ctx) => {
    const current = ctx.session;
    if (!current) throw new Error("no session");
    if (ctx.path === "/deep") current.deep = JSON.parse(await body(ctx)) as unknown;
    else if (ctx.path === "/bump") current.views = ((current.views as number | undefined) ?? 0) + 1;
    else if (ctx.path === "/leaf") {
      let inner = current.deep as unknown[];
      while (Array.isArray(inner[0])) inner = inner[0] as unknown[];
      inner[0] = await body(ctx);
    }
    ctx.body = { ...measure(current.deep), views: current.views ?? null };
  });
  return { app, errors };
}

function sessionCookie(res: request.Response): string {
  const header = res.headers["set-cookie"] as unknown as string[] | undefined;
  const cookies = (header ?? []).map((line) => line.split(";")[0] as string).filter((pair) => !pair.endsWith("="));
  if (cookies.length === 0) throw new Error(`expected a session cookie, got ${JSON.stringify(header)}`);
  return cookies.join("; ");
}

/** The whole round trip: save, read-only load (no write, no cookie), a shallow merge, a deep change. */
async function roundTrip(options: SessionOptions, depth: number, writes?: () => number): Promise<void> {
  const { app, errors } = deepApp(options);
  const agent = () => request(app.callback());
  const saved = await agent().post("/deep").type("text/plain").send(deepText(depth));
  expect(saved.status).toBe(200);
  expect(saved.body).toEqual({ depth, leaf: "leaf", views: null });
  let cookie = sessionCookie(saved);

  const before = writes?.();
  const read = await agent().get("/read").set("Cookie", cookie);
  expect(read.status).toBe(200);
  expect(read.body).toEqual({ depth, leaf: "leaf", views: null });
  expect(read.headers["set-cookie"]).toBeUndefined(); // compared equal: nothing to save
  if (writes) expect(writes()).toBe(before);

  const bumped = await agent().post("/bump").set("Cookie", cookie);
  expect(bumped.status).toBe(200);
  expect(bumped.body).toEqual({ depth, leaf: "leaf", views: 1 });
  if (options.mode === "cookie") cookie = sessionCookie(bumped);

  const changed = await agent().post("/leaf").type("text/plain").set("Cookie", cookie).send("changed");
  expect(changed.status).toBe(200);
  if (options.mode === "cookie") cookie = sessionCookie(changed);

  const after = await agent().get("/read").set("Cookie", cookie);
  expect(after.body).toEqual({ depth, leaf: "changed", views: 1 });
  expect(errors).toEqual([]);
}

/** Counts the store calls that write. */
function countWrites(store: SessionStore): () => number {
  let count = 0;
  for (const method of ["set", "merge", "touch"] as const) {
    const original = store[method] as ((...args: unknown[]) => unknown) | undefined;
    if (!original) continue;
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      count++;
      return original.apply(store, args);
    };
  }
  return () => count;
}

describe("store mode: deeply nested session values", () => {
  for (const depth of DEPTHS) {
    it(`the default memory store, ${depth} levels`, { timeout: 120_000 }, async () => {
      await roundTrip({}, depth);
    });
    for (const entry of stores) {
      it.skipIf(!entry.up)(`${entry.name}, ${depth} levels`, { timeout: 120_000 }, async () => {
        const store = entry.make(`d${depth}`);
        await roundTrip({ store }, depth, countWrites(store));
      });
    }
  }
});

describe("the stores' own read-modify-write paths with deeply nested values", () => {
  // Without the middleware's text (no base/result), every store parses, applies and re-serializes
  // the entry itself: memory and SQLite in JS, Redis through its compare-and-set retry, PostgreSQL
  // in jsonb (or, past its parser's stack limit, a locked read-modify-write in JS).
  for (const depth of DEPTHS) {
    for (const entry of stores) {
      it.skipIf(!entry.up)(`${entry.name}: set, merge, touch, get and listByUser at ${depth} levels`, { timeout: 120_000 }, async () => {
        const store = entry.make(`rmw${depth}`);
        const key = `rmw-${depth}`;
        const deep = JSON.parse(deepText(depth)) as unknown;
        const expire = Date.now() + 60_000;
        const meta = { createdAt: 1, lastSeenAt: 1, userId: `user-${depth}` };
        await store.set(key, { _expire: expire, _maxAge: 60_000, _sk: meta, deep }, 60_000, { changed: true, rolling: false });
        const merged = await store.merge?.(
          key,
          { set: { views: 1 }, unset: [], reserved: { _expire: expire, _maxAge: 60_000, _sk: { ...meta, lastSeenAt: 2 } } },
          60_000,
          { changed: true, rolling: false },
        );
        expect(merged).toBe(true);
        await store.touch?.(key, { _expire: expire + 1, _sk: { ...meta, lastSeenAt: 3 } }, 60_000, { changed: false, rolling: true });
        const loaded = (await store.get(key, 60_000, { rolling: false })) as StoredSession;
        expect(measure(loaded.deep)).toEqual({ depth, leaf: "leaf" });
        expect(loaded.views).toBe(1);
        expect(loaded._sk?.lastSeenAt).toBe(3);
        expect((await store.listByUser?.(meta.userId))?.map((item) => item.key)).toEqual([key]);
      });
    }
  }
});

describe("cookie mode: deeply nested session values", () => {
  // A nested array is mostly brackets, so a compressing codec fits 100,000 levels in a few hundred
  // bytes: the sealed cookie really carries the deep value, and load and compare must cope with it.
  const compressed: SessionOptions = {
    mode: "cookie",
    encode: (stored) => deflateRawSync(stringifyJson(stored)).toString("base64url"),
    decode: (text) => JSON.parse(inflateRawSync(Buffer.from(text, "base64url")).toString("utf8")) as StoredSession,
  };
  for (const depth of DEPTHS) {
    it(`a sealed deep value loads, compares and saves, ${depth} levels`, { timeout: 120_000 }, async () => {
      await roundTrip(compressed, depth);
    });

    it(`without compression, ${depth} levels can't fit in a cookie: the normal SessionTooLargeError`, { timeout: 60_000 }, async () => {
      const { app, errors } = deepApp({ mode: "cookie" });
      const login = await request(app.callback()).post("/bump");
      const cookie = sessionCookie(login);
      const res = await request(app.callback()).post("/deep").type("text/plain").set("Cookie", cookie).send(deepText(depth));
      expect(res.status).toBe(500);
      expect(res.headers["set-cookie"]).toBeUndefined();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: "ERR_SESSIONKIT_SESSION_TOO_LARGE" });
      // The browser still holds the last cookie that fit, and it keeps working.
      const next = await request(app.callback()).get("/read").set("Cookie", cookie);
      expect(next.status).toBe(200);
      expect(next.body).toEqual({ depth: 0, views: 1 });
    });
  }
});

describe("values the native JSON functions overflow on", () => {
  it("the middleware's serialization falls back only when JSON.stringify throws RangeError", async () => {
    const stringify = vi.spyOn(JSON, "stringify");
    try {
      const { app } = deepApp({});
      const res = await request(app.callback()).post("/bump");
      expect(res.status).toBe(200);
      // A shallow session: native calls only (the fallback would stringify each member separately).
      expect(stringify.mock.calls.every(([value]) => typeof value === "object")).toBe(true);
    } finally {
      stringify.mockRestore();
    }
  });
});
