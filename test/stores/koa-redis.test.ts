/**
 * koa-session 7's most used store, koa-redis, through the core of the contract (get/set/destroy).
 * koa-redis bundles ioredis 4 but accepts any client with get/setex/set/del, so we hand it an ioredis 5 one.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { Redis } from "ioredis";
import { describe } from "vitest";
import type { SessionStore, StoredSession } from "../../src/stores/contract.js";
import { REDIS_URL, requireService } from "../helpers/services.js";
import { runStoreContract } from "./contract.js";

interface KoaRedisStore {
  get(key: string): Promise<StoredSession | null | undefined>;
  set(key: string, session: StoredSession, ttl: number | undefined): Promise<void>;
  destroy(key: string): Promise<void>;
}
const koaRedis = createRequire(import.meta.url)("koa-redis") as (options: { client: Redis }) => KoaRedisStore;

const up = await requireService("redis");

async function dumpRedis(client: Redis, prefix: string): Promise<string> {
  const keys = await client.keys(`${prefix}*`);
  const values = keys.length > 0 ? await client.mget(keys) : [];
  return keys.map((key, i) => `${key} ${values[i] ?? ""}`).join("\n");
}

describe.skipIf(!up)("koa-redis", () => {
  runStoreContract(
    "koa-redis (core)",
    async () => {
      const prefix = `sktest-kr:${randomBytes(4).toString("hex")}:`;
      const client = new Redis(REDIS_URL);
      const foreign = koaRedis({ client });
      // koa-session prefixes keys itself before calling its store; we do the same for isolation.
      const store: SessionStore = {
        get: (key) => foreign.get(prefix + key),
        set: (key, session, maxAge) => foreign.set(prefix + key, session, typeof maxAge === "number" ? maxAge : undefined),
        destroy: (key) => foreign.destroy(prefix + key),
      };
      return {
        store,
        rawDump: () => dumpRedis(client, prefix),
        cleanup: async () => {
          const keys = await client.keys(`${prefix}*`);
          if (keys.length > 0) await client.del(...keys);
          await client.quit();
        },
      };
    },
    // koa-redis rounds a TTL up to whole seconds (SETEX).
    { core: true, shortMaxAgeMs: 1000 },
  );
});
