import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { describe } from "vitest";
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
});
