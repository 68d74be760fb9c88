/**
 * connectStore over real express-session stores on real servers: the shared store contract (no merge,
 * no touch; listing only where the store has `all`), and the expiry each store computes from the
 * cookie we hand it. Through a Koa app (503s, listing, capability errors): connect-app.test.ts.
 */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SESSION_COOKIE_STORE_TTL_MS } from "../../src/stores/contract.js";
import { connectStore, type ConnectSessionData, type ConnectStoreLike } from "../../src/stores/connect.js";
import { CONNECT_BACKENDS } from "../helpers/connect-stores.js";
import { requireService } from "../helpers/services.js";
import { runStoreContract } from "./contract.js";

const storeKey = () => "sk:" + createHash("sha256").update(randomBytes(32)).digest("base64url");

for (const backend of CONNECT_BACKENDS) {
  const up = backend.service === undefined ? true : await requireService(backend.service);

  describe.skipIf(!up)(`connectStore(${backend.name})`, () => {
    // Every change is a whole-object set (no merge), rolling rewrites too (no touch); listing needs `all`.
    const without = backend.lists ? (["touch", "merge"] as const) : (["touch", "merge", "listByUser", "destroyByUser"] as const);
    runStoreContract(
      `connectStore(${backend.name})`,
      async () => {
        const harness = await backend.make();
        expect(typeof harness.connect.all === "function").toBe(backend.lists);
        return { store: connectStore(harness.connect), rawDump: harness.rawDump, cleanup: harness.cleanup };
      },
      { without: [...without] },
    );

    it("hands the store our maxAge as the cookie expiry it computes its own TTL from", async () => {
      const harness = await backend.make();
      const store = connectStore(harness.connect);
      try {
        const [timed, browser] = [storeKey(), storeKey()];
        const before = Date.now();
        await store.set(timed, { _expire: before + 90_000, v: 1 }, 90_000, {});
        await store.set(browser, { v: 2, _session: true }, "session", {});
        // Stores keep whole seconds (connect-redis rounds up, MariaDB rounds): within 1.5 s.
        expect(Math.abs((await harness.expiryOf(timed))! - (before + 90_000))).toBeLessThan(1500);
        expect(Math.abs((await harness.expiryOf(browser))! - (before + SESSION_COOKIE_STORE_TTL_MS))).toBeLessThan(1500);
        await store.destroy(timed, {});
        expect(await harness.expiryOf(timed)).toBeNull();
        await store.destroy(browser, {});
      } finally {
        await harness.cleanup();
      }
    });
  });
}

describe("connectStore call styles", () => {
  /** One Map, reached through callbacks (sync or deferred) or promises only. */
  function mapStore(style: "sync-callback" | "promise-only"): ConnectStoreLike {
    const data = new Map<string, ConnectSessionData>();
    const answer = <T>(value: T, callback: (error?: unknown, value?: T) => void): unknown =>
      style === "promise-only" ? Promise.resolve(value) : callback(undefined, value);
    return {
      get: (sid, callback) => answer(data.get(sid) ?? null, callback),
      set: (sid, session, callback) => answer(void data.set(sid, structuredClone(session)), callback),
      destroy: (sid, callback) => answer(void data.delete(sid), callback),
      all: (callback) => answer(Object.fromEntries(data), callback),
      length: (callback) => answer(data.size, callback),
      clear: (callback) => answer(void data.clear(), callback),
    };
  }

  it.each(["sync-callback", "promise-only"] as const)("%s: set, get, list, length, clear and destroy", async (style) => {
    const store = connectStore(mapStore(style));
    const key = storeKey();
    const session = { _expire: Date.now() + 60_000, _sk: { createdAt: 1, lastSeenAt: 2, userId: "u" }, n: 1 };
    await store.set(key, session, 60_000, {});
    expect(await store.get(key, 60_000, {})).toEqual(session);
    expect((await store.listByUser!("u")).map((entry) => entry.key)).toEqual([key]);
    expect(await store.length!()).toBe(1);
    await store.clear!();
    expect(await store.get(key, 60_000, {})).toBeNull();
    await store.set(key, session, 60_000, {});
    await store.destroy(key, {});
    expect(await store.length!()).toBe(0);
  });

  it("refuses an object that is not a store, with the fix in the message", () => {
    expect(() => connectStore({ get() {} } as unknown as ConnectStoreLike)).toThrow(expect.objectContaining({ code: "ERR_SESSIONKIT_CONFIG", message: expect.stringMatching(/it has no set/) }));
    expect(() => connectStore(null as unknown as ConnectStoreLike)).toThrow(/connectStore needs an express-session store object/);
  });
});
