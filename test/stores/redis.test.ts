import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../../src/stores/redis.js";
import { REDIS_URL, requireService } from "../helpers/services.js";
import { runStoreContract } from "./contract.js";

const up = await requireService("redis");

/** Every key under a prefix with its value (strings) or members (the per-user sorted sets). */
async function dumpRedis(client: Redis, prefix: string): Promise<string> {
  const lines: string[] = [];
  for (const key of await client.keys(`${prefix}*`)) {
    const type = await client.type(key);
    const value = type === "string" ? await client.get(key) : (await client.zrange(key, 0, -1, "WITHSCORES")).join(" ");
    lines.push(`${key} ${value ?? ""}`);
  }
  return lines.join("\n");
}

describe.skipIf(!up)("RedisStore", () => {
  runStoreContract("RedisStore (url)", async () => {
    const keyPrefix = `sktest:${randomBytes(4).toString("hex")}:`;
    const store = new RedisStore({ url: REDIS_URL, keyPrefix });
    const admin = new Redis(REDIS_URL);
    return {
      store,
      rawDump: () => dumpRedis(admin, keyPrefix),
      cleanup: async () => {
        const keys = await admin.keys(`${keyPrefix}*`);
        if (keys.length > 0) await admin.del(...keys);
        await store.close();
        await admin.quit();
      },
    };
  });

  runStoreContract("RedisStore (shared client)", async () => {
    const keyPrefix = `sktest:${randomBytes(4).toString("hex")}:`;
    const client = new Redis(REDIS_URL);
    const store = new RedisStore({ client, keyPrefix });
    return {
      store,
      rawDump: () => dumpRedis(client, keyPrefix),
      cleanup: async () => {
        const keys = await client.keys(`${keyPrefix}*`);
        if (keys.length > 0) await client.del(...keys);
        await store.close(); // must leave a shared client open
        await client.ping();
        await client.quit();
      },
    };
  });

  it("merge and touch keep working after the script cache is flushed (Redis restart, SCRIPT FLUSH)", async () => {
    const keyPrefix = `sktest:${randomBytes(4).toString("hex")}:`;
    const store = new RedisStore({ url: REDIS_URL, keyPrefix });
    const admin = new Redis(REDIS_URL);
    try {
      const session = { _expire: Date.now() + 60_000, a: 1 };
      await store.set("k", session, 60_000);
      await admin.script("FLUSH");
      expect(await store.merge("k", { set: { b: 2 }, unset: [], reserved: {} }, 60_000)).toBe(true);
      await admin.script("FLUSH");
      await store.touch("k", { ...session, _expire: Date.now() + 120_000 }, 120_000);
      expect(await store.get("k")).toMatchObject({ a: 1, b: 2 });
      expect(await admin.pttl(`${keyPrefix}s:k`)).toBeGreaterThan(60_000);
      // A merge into a missing entry still reports it gone, through the fallback too.
      await admin.script("FLUSH");
      expect(await store.merge("gone", { set: { b: 2 }, unset: [], reserved: {} }, 60_000)).toBe(false);
    } finally {
      const keys = await admin.keys(`${keyPrefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      await store.close();
      await admin.quit();
    }
  });
});
