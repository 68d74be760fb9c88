/**
 * RedisStore writes a logged-in session's user-index entry only when the score it last wrote no
 * longer covers the session's expiry (stores/redis-index-writes.ts). The property that matters for
 * logoutEverywhere: after every write, the index score is at or above the session's stored expiry,
 * including when another process writes the same session with a shorter maxAge.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import type { SessionChanges, StoredSession } from "../../src/stores/contract.js";
import { RedisStore } from "../../src/stores/redis.js";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";
import { REDIS_URL, requireService } from "../helpers/services.js";

const up = await requireService("redis");
const { Redis: Client } = IOREDIS_VERSIONS[0]!;
const USER = "alice";

function loggedIn(maxAge: number): StoredSession {
  return { _expire: Date.now() + maxAge, _maxAge: maxAge, _sk: { createdAt: Date.now(), userId: USER } } as StoredSession;
}

function change(n: number, maxAge: number): SessionChanges {
  return { set: { n }, unset: [], reserved: { _expire: Date.now() + maxAge, _maxAge: maxAge, _sk: { createdAt: 1, userId: USER } } };
}

/** The stored expiry of `key` and its score in the user's index. */
async function coverage(admin: Redis, keyPrefix: string, key: string): Promise<{ expire: number; score: number }> {
  const text = await admin.get(`${keyPrefix}s:${key}`);
  const score = await admin.zscore(`${keyPrefix}u:${USER}`, key);
  return { expire: (JSON.parse(text as string) as { _expire: number })._expire, score: Number(score) };
}

async function indexScriptsDuring(admin: Redis, keyPrefix: string, work: () => Promise<unknown>): Promise<number> {
  const monitor = await admin.duplicate().monitor();
  let scripts = 0;
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    const name = (args[0] ?? "").toLowerCase();
    if (source !== "lua" && (name === "evalsha" || name === "eval") && args.slice(3).some((arg) => arg.startsWith(`${keyPrefix}u:`))) scripts++;
  });
  await work();
  await admin.ping();
  await new Promise((resolve) => setTimeout(resolve, 50));
  monitor.disconnect();
  return scripts;
}

describe.skipIf(!up)("RedisStore's user index: written when its score no longer covers the session", () => {
  async function withStores(run: (a: RedisStore, b: RedisStore, admin: Redis, keyPrefix: string) => Promise<void>): Promise<void> {
    const keyPrefix = `sktest:${randomBytes(4).toString("hex")}:`;
    const admin = new Client(REDIS_URL);
    const a = new RedisStore({ client: new Client(REDIS_URL), keyPrefix });
    const b = new RedisStore({ client: new Client(REDIS_URL), keyPrefix });
    try {
      await run(a, b, admin, keyPrefix);
    } finally {
      const left = await admin.keys(`${keyPrefix}*`);
      if (left.length > 0) await admin.del(...left);
      await a.client.quit();
      await b.client.quit();
      await admin.quit();
    }
  }

  it("20 writes in a row write the index at most once after the login, and every write stays covered", async () => {
    await withStores(async (store, _b, admin, keyPrefix) => {
      const maxAge = 3_600_000;
      await store.set("k", loggedIn(maxAge), maxAge);
      let covered = true;
      const scripts = await indexScriptsDuring(admin, keyPrefix, async () => {
        for (let n = 0; n < 20; n++) {
          expect(await store.merge("k", change(n, maxAge), maxAge)).toBe(true);
          const { expire, score } = await coverage(admin, keyPrefix, "k");
          if (!(score >= expire)) covered = false;
        }
      });
      expect(covered).toBe(true);
      // At most one: a write can cross into the next minute-step once in a run this short.
      expect(scripts).toBeLessThanOrEqual(1);
    });
  });

  it("another process writing with a shorter maxAge cannot lower the score this process relies on", async () => {
    await withStores(async (a, b, admin, keyPrefix) => {
      const long = 3_600_000;
      await a.set("k", loggedIn(long), long);
      const before = await coverage(admin, keyPrefix, "k");
      // Process b writes the session with a 10 s maxAge: its index write must not pull the score down.
      expect(await b.merge("k", change(1, 10_000), 10_000)).toBe(true);
      expect(Number(await admin.zscore(`${keyPrefix}u:${USER}`, "k"))).toBe(before.score);
      // Process a writes with the long maxAge again and skips the index (its remembered score covers it).
      expect(await a.merge("k", change(2, long), long)).toBe(true);
      const after = await coverage(admin, keyPrefix, "k");
      expect(after.score).toBeGreaterThanOrEqual(after.expire);
    });
  });

  it("listSessions reports the session's own expiry, not the rounded score; logoutEverywhere still finds every session", async () => {
    await withStores(async (a, b, _admin) => {
      const maxAge = 3_600_000;
      const sessions = [loggedIn(maxAge), loggedIn(maxAge), loggedIn(maxAge)];
      await Promise.all(sessions.map((session, i) => a.set(`k${i}`, session, maxAge)));
      for (let n = 0; n < 5; n++) await Promise.all([0, 1, 2].map((i) => a.merge(`k${i}`, change(n, maxAge), maxAge)));
      const listed = await b.listByUser(USER);
      expect(listed.map((entry) => entry.key).sort()).toEqual(["k0", "k1", "k2"]);
      for (const entry of listed) {
        const stored = await a.get(entry.key);
        expect(entry.expiresAt).toBe(stored?._expire);
      }
      expect(await b.destroyByUser(USER)).toBe(3);
      expect(await Promise.all([0, 1, 2].map((i) => a.get(`k${i}`)))).toEqual([null, null, null]);
    });
  });
});
