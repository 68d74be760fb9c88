/**
 * A key of another type under RedisStore's prefix (another program's string where a user index
 * belongs, a hash where a session belongs) affects that one key: it used to fail a whole batched
 * script with WRONGTYPE, so the other logins of the same event-loop turn answered 503, and a lone
 * read of it was a 503 on every request.
 */
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { StoredSession } from "../../src/stores/contract.js";
import { RedisStore } from "../../src/stores/redis.js";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";
import { REDIS_URL, requireService } from "../helpers/services.js";

const up = await requireService("redis");
const { Redis: Client } = IOREDIS_VERSIONS[0]!;

describe.skipIf(!up)("RedisStore with a foreign key type under its prefix", () => {
  const keyPrefix = `sk:test:wrongtype:${randomBytes(6).toString("hex")}:`;
  const admin = up ? new Client(REDIS_URL) : undefined;
  const store = up ? new RedisStore({ url: REDIS_URL, keyPrefix }) : undefined;
  afterAll(async () => {
    const keys = await admin?.keys(`${keyPrefix}*`);
    if (keys?.length) await admin?.del(...keys);
    await store?.close();
    await admin?.quit();
  });

  const loggedIn = (userId: string): StoredSession => ({ _expire: Date.now() + 60_000, _maxAge: 60_000, _sk: { createdAt: Date.now(), userId } }) as StoredSession;

  it("a string where a user index belongs: every write of the batch succeeds and that index is rebuilt", async () => {
    await admin!.set(`${keyPrefix}u:mallory`, "junk");
    const users = ["mallory", "u1", "u2", "u3", "u4", "u5", "u6"];
    // One event-loop turn: the writes share one index script call.
    await Promise.all(users.map((user) => store!.set(`k-${user}`, loggedIn(user), 60_000)));
    for (const user of users) expect(await store!.listByUser(user)).toHaveLength(1);
    expect(await admin!.type(`${keyPrefix}u:mallory`)).toBe("zset");
  });

  it("a hash where a session belongs reads as no session, alone or in a batch, and a merge finds it gone", async () => {
    await admin!.hset(`${keyPrefix}s:hashed`, "a", "1");
    expect(await store!.get("hashed")).toBeNull();
    const [lone, other] = await Promise.all([store!.get("hashed"), store!.get("k-u1")]);
    expect(lone).toBeNull();
    expect(other).toMatchObject({ _sk: { userId: "u1" } });
    expect(await store!.merge("hashed", { set: { b: 2 }, unset: [], reserved: { _expire: Date.now() + 60_000 } }, 60_000)).toBe(false);
  });
});
