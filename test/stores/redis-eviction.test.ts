/** RedisStore warns once when Redis may evict its per-user index keys (found by an eviction probe). */
import { describe, expect, it } from "vitest";
import { RedisStore } from "../../src/stores/redis.js";

/** Enough of an ioredis client for the constructor and the policy check. */
function fakeClient(policy: string | Error) {
  return {
    get: async () => null,
    config: async () => {
      if (policy instanceof Error) throw policy;
      return ["maxmemory-policy", policy];
    },
  };
}

async function warningsDuring(run: () => void): Promise<string[]> {
  const seen: string[] = [];
  const listener = (warning: Error & { code?: string }) => {
    if (warning.code === "KOA_SESSIONKIT_REDIS_EVICTION") seen.push(warning.message);
  };
  process.on("warning", listener);
  try {
    run();
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    process.off("warning", listener);
  }
  return seen;
}

describe("RedisStore and Redis's eviction policy", () => {
  it("says nothing for noeviction or when CONFIG is refused; warns once for an evicting policy", async () => {
    expect(await warningsDuring(() => new RedisStore({ client: fakeClient("noeviction") as never }))).toEqual([]);
    expect(await warningsDuring(() => new RedisStore({ client: fakeClient(new Error("ERR unknown command 'CONFIG'")) as never }))).toEqual([]);
    const warned = await warningsDuring(() => {
      new RedisStore({ client: fakeClient("allkeys-lru") as never });
      new RedisStore({ client: fakeClient("volatile-ttl") as never });
    });
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain("maxmemory-policy allkeys-lru");
    expect(warned[0]).toContain("noeviction");
  });
});
