/**
 * connectStore over real express-session stores on real servers: the shared store contract (no merge,
 * no touch; listing only where the store has `all`), and the expiry each store computes from the
 * cookie we hand it. Through a Koa app (503s, listing, capability errors): connect-app.test.ts.
 */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SESSION_COOKIE_STORE_TTL_MS } from "../../src/stores/contract.js";
import { connectStore } from "../../src/stores/connect.js";
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
