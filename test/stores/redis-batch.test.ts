/**
 * RedisStore sends the session reads of one event-loop turn as one MGET, its compare-and-sets as one
 * script call and its user-index updates as one more (stores/turn-batch.ts). The script-cache fallback
 * is tested on a private server (redis-contention.test.ts): SCRIPT FLUSH would touch the shared one.
 * Checked against the real Redis with MONITOR, counting only commands on this test's own key prefix
 * (other suites share the server).
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import type { SessionChanges, StoredSession } from "../../src/stores/contract.js";
import { RedisStore } from "../../src/stores/redis.js";
import { MAX_BATCH } from "../../src/stores/turn-batch.js";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";
import { REDIS_URL, requireService } from "../helpers/services.js";

const up = await requireService("redis");
const MAX_AGE = 60_000;

interface Sent {
  name: string;
  keys: string[];
}

/** The commands that name a key under `prefix` while `work` runs, with the keys each names. */
async function commandsOn(admin: Redis, prefix: string, work: () => Promise<unknown>): Promise<Sent[]> {
  const monitor = await admin.duplicate().monitor();
  const sent: Sent[] = [];
  const marker = `end-${prefix}`;
  let done = false;
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (args[0]?.toLowerCase() === "echo" && args[1] === marker) done = true;
    if (source === "lua" || done) return;
    const name = (args[0] ?? "").toLowerCase();
    const keys = name === "evalsha" || name === "eval" ? args.slice(3, 3 + Number(args[2])) : args.slice(1).filter((arg) => arg.startsWith(prefix));
    if (keys.some((key) => key.startsWith(prefix))) sent.push({ name, keys });
  });
  await work();
  await admin.echo(marker);
  while (!done) await sleep(5);
  monitor.disconnect();
  return sent;
}

function session(fields: Record<string, unknown> = {}): StoredSession {
  return { _expire: Date.now() + MAX_AGE, ...fields } as StoredSession;
}

const change = (set: Record<string, unknown>): SessionChanges => ({ set, unset: [], reserved: {} });

/** A change to `loaded` as the middleware hands it over: with the text it loaded and the whole result. */
const loadedChange = (loaded: StoredSession, set: Record<string, unknown>): SessionChanges => ({
  ...change(set),
  base: JSON.stringify(loaded),
  result: JSON.stringify({ ...loaded, ...set }),
});

describe.skipIf(!up)("RedisStore batches the calls of one event-loop turn", () => {
  for (const { name, Redis: Client } of IOREDIS_VERSIONS) {
    it(`${name}: parallel reads are MGETs of up to MAX_BATCH keys, each caller gets its own session (or null)`, async () => {
      const keyPrefix = `sktest:${randomBytes(4).toString("hex")}:`;
      const admin = new Client(REDIS_URL);
      const store = new RedisStore({ client: new Client(REDIS_URL), keyPrefix });
      try {
        for (let i = 0; i < 10; i++) await store.set(`k${i}`, session({ n: i }), MAX_AGE);
        const keys = Array.from({ length: 12 }, (_, i) => `k${i}`); // k10, k11 do not exist
        let results: (StoredSession | null)[] = [];
        const sent = await commandsOn(admin, keyPrefix, async () => {
          results = await Promise.all(keys.map((key) => store.get(key)));
        });
        expect(results.map((stored) => stored?.n ?? null)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, null, null]);
        // One MGET per MAX_BATCH reads, in call order (the first leaves as soon as it is full).
        const full = keys.map((key) => `${keyPrefix}s:${key}`);
        expect(sent).toEqual([
          { name: "mget", keys: full.slice(0, MAX_BATCH) },
          { name: "mget", keys: full.slice(MAX_BATCH) },
        ]);
        // Returned objects are the caller's own: changing one changes no other.
        (results[0] as StoredSession).n = 99;
        expect((await store.get("k0"))?.n).toBe(0);
        // A lone read is a plain GET.
        const lone = await commandsOn(admin, keyPrefix, () => store.get("k1"));
        expect(lone).toEqual([{ name: "get", keys: [`${keyPrefix}s:k1`] }]);
      } finally {
        const left = await admin.keys(`${keyPrefix}*`);
        if (left.length > 0) await admin.del(...left);
        await store.client.quit();
        await admin.quit();
      }
    });

    it(`${name}: parallel merges are one script call; a destroy issued meanwhile still wins, and two merges of one session both land`, async () => {
      const keyPrefix = `sktest:${randomBytes(4).toString("hex")}:`;
      const admin = new Client(REDIS_URL);
      const store = new RedisStore({ client: new Client(REDIS_URL), keyPrefix });
      try {
        const stored = Array.from({ length: 6 }, (_, i) => session({ n: i }));
        for (let i = 0; i < 6; i++) await store.set(`k${i}`, stored[i] as StoredSession, MAX_AGE);
        let written: boolean[] = [];
        const sent = await commandsOn(admin, keyPrefix, async () => {
          // Each with the text its request loaded, as the middleware merges: no read first, so all the
          // compare-and-sets start in this turn (a read each would let them resume in different turns,
          // whenever Redis's replies arrive).
          const merges = [0, 1, 2, 3, 4, 5].map((i) => store.merge(`k${i}`, loadedChange(stored[i] as StoredSession, { m: i }), MAX_AGE));
          const again = store.merge("k0", change({ again: true }), MAX_AGE);
          // Issued after the merges, in the same turn: reaches Redis first, and the merge of k3 must not recreate it.
          const destroyed = store.destroy("k3");
          written = await Promise.all([...merges, again]);
          expect(await destroyed).toBe(true);
        });
        expect(written).toEqual([true, true, true, false, true, true, true]);
        expect(await admin.exists(`${keyPrefix}s:k3`)).toBe(0);
        expect(await store.get("k0")).toMatchObject({ n: 0, m: 0, again: true });
        for (const i of [1, 2, 4, 5]) expect(await store.get(`k${i}`)).toMatchObject({ n: i, m: i });
        const scripts = sent.filter((command) => command.name === "evalsha" || command.name === "eval");
        expect(scripts).toHaveLength(1);
        expect(scripts[0]?.keys).toEqual(["k0", "k1", "k2", "k3", "k4", "k5", "k0"].map((key) => `${keyPrefix}s:${key}`));
      } finally {
        const left = await admin.keys(`${keyPrefix}*`);
        if (left.length > 0) await admin.del(...left);
        await store.client.quit();
        await admin.quit();
      }
    });
  }

  it("a client with its own ioredis keyPrefix: batched reads and writes use the prefixed keys", async () => {
    const clientPrefix = `sktest:${randomBytes(4).toString("hex")}:`;
    const { Redis: Client } = IOREDIS_VERSIONS[0]!;
    const admin = new Client(REDIS_URL);
    const store = new RedisStore({ client: new Client(REDIS_URL, { keyPrefix: clientPrefix }), keyPrefix: "app:" });
    try {
      await Promise.all([store.set("a", session({ n: 1 }), MAX_AGE), store.set("b", session({ n: 2 }), MAX_AGE)]);
      expect(await Promise.all([store.merge("a", change({ m: 1 }), MAX_AGE), store.merge("b", change({ m: 2 }), MAX_AGE)])).toEqual([true, true]);
      const [a, b] = await Promise.all([store.get("a"), store.get("b")]);
      expect([a?.m, b?.m]).toEqual([1, 2]);
      expect(JSON.parse((await admin.get(`${clientPrefix}app:s:a`)) as string)).toMatchObject({ n: 1, m: 1 });
    } finally {
      const left = await admin.keys(`${clientPrefix}*`);
      if (left.length > 0) await admin.del(...left);
      await store.client.quit();
      await admin.quit();
    }
  });

  it("logged-in sessions: the user-index updates of one turn are one script call too, and every session is listed", async () => {
    const keyPrefix = `sktest:${randomBytes(4).toString("hex")}:`;
    const { Redis: Client } = IOREDIS_VERSIONS[0]!;
    const admin = new Client(REDIS_URL);
    const store = new RedisStore({ client: new Client(REDIS_URL), keyPrefix });
    // A second process: it has not written these indexes itself, so each of its writes does.
    const other = new RedisStore({ client: new Client(REDIS_URL), keyPrefix });
    const owner = (i: number) => `user${i % 3}`;
    const loggedIn = (i: number) => session({ n: i, _sk: { createdAt: Date.now(), userId: owner(i) } });
    try {
      // Six logins in one turn (new sessions: SET each, the index updates batched).
      const logins = await commandsOn(admin, keyPrefix, () => Promise.all([0, 1, 2, 3, 4, 5].map((i) => store.set(`k${i}`, loggedIn(i), MAX_AGE))));
      const loginScripts = logins.filter((command) => command.name === "evalsha" || command.name === "eval");
      expect(loginScripts).toHaveLength(1);
      expect(loginScripts[0]?.keys).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${keyPrefix}u:${owner(i)}`));
      // Six writes in one turn: one compare-and-set script over the sessions, one over the indexes.
      const writes = await commandsOn(admin, keyPrefix, async () => {
        const reserved = (i: number) => ({ _expire: Date.now() + MAX_AGE, _sk: { createdAt: 1, userId: owner(i) } });
        const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => other.merge(`k${i}`, { set: { m: i }, unset: [], reserved: reserved(i) }, MAX_AGE)));
        expect(results).toEqual([true, true, true, true, true, true]);
      });
      const scripts = writes.filter((command) => command.name === "evalsha" || command.name === "eval");
      expect(scripts.map((command) => command.keys.length).sort()).toEqual([6, 6]);
      expect(scripts.flatMap((command) => command.keys).filter((key) => key.includes(":u:"))).toHaveLength(6);
      for (const user of ["user0", "user1", "user2"]) {
        const listed = (await store.listByUser(user)).map((entry) => entry.key).sort();
        expect(listed).toEqual([0, 1, 2, 3, 4, 5].filter((i) => owner(i) === user).map((i) => `k${i}`));
        const ttl = await admin.pttl(`${keyPrefix}u:${user}`);
        // The index lives as long as its newest score: the expiry rounded up to the next minute.
        expect(ttl).toBeGreaterThan(MAX_AGE - 5_000);
        expect(ttl).toBeLessThanOrEqual(MAX_AGE + 60_000);
      }
    } finally {
      const left = await admin.keys(`${keyPrefix}*`);
      if (left.length > 0) await admin.del(...left);
      await other.client.quit();
      await store.client.quit();
      await admin.quit();
    }
  });
});
