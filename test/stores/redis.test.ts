import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { failFastRedisOptions, RedisStore } from "../../src/stores/redis.js";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";
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

async function dropPrefix(client: Redis, prefix: string): Promise<void> {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
}

const newPrefix = () => `sktest:${randomBytes(4).toString("hex")}:`;

describe.skipIf(!up)("RedisStore", () => {
  // url mode: the store makes its own client from the installed `ioredis` (5 here; ioredis 6 through
  // url mode is checked on a packed install, see docs/stores.md).
  runStoreContract("RedisStore (url)", async () => {
    const keyPrefix = newPrefix();
    const store = new RedisStore({ url: REDIS_URL, keyPrefix });
    const { Redis: Admin } = IOREDIS_VERSIONS[0]!;
    const admin = new Admin(REDIS_URL);
    return {
      store,
      rawDump: () => dumpRedis(admin, keyPrefix),
      cleanup: async () => {
        await dropPrefix(admin, keyPrefix);
        await store.close();
        await admin.quit();
      },
    };
  });

  for (const { name, Redis: Client } of IOREDIS_VERSIONS) {
    runStoreContract(`RedisStore (shared ${name} client)`, async () => {
      const keyPrefix = newPrefix();
      const client = new Client(REDIS_URL, failFastRedisOptions());
      const store = new RedisStore({ client, keyPrefix });
      return {
        store,
        rawDump: () => dumpRedis(client, keyPrefix),
        cleanup: async () => {
          await dropPrefix(client, keyPrefix);
          await store.close(); // must leave a shared client open
          await client.ping();
          await client.quit();
        },
      };
    });
  }

  it("takes exactly one of client, url or sentinels, and checks the Sentinel form", () => {
    const client = {} as Redis;
    expect(() => new RedisStore({ client, url: REDIS_URL })).toThrow(/one of client, url or sentinels/);
    expect(() => new RedisStore({ url: REDIS_URL, sentinels: [{ host: "127.0.0.1", port: 26379 }], name: "m" })).toThrow(/one of client/);
    expect(() => new RedisStore({})).toThrow(/needs \{ client \}, \{ url/);
    // `{ url: process.env.REDIS_URL }` with REDIS_URL= set but empty: ioredis would quietly use localhost.
    for (const url of ["", "  "]) expect(() => new RedisStore({ url })).toThrow(/RedisStore got an empty url \(an unset or empty environment variable\?\)/);
    expect(() => new RedisStore({ sentinels: [], name: "m" })).toThrow(/non-empty array of \{ host, port \}/);
    expect(() => new RedisStore({ sentinels: [{ host: "127.0.0.1", port: 26379 }] })).toThrow(/needs name/);
  });
});
