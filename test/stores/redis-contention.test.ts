/**
 * Round trips per write when fifty requests of one user write one session at once, against a real
 * redis-server this test starts on a spare loopback port (a fresh one: empty script cache, as after
 * a deploy or a Redis restart). Commands are counted with MONITOR, which tells what the client sent
 * from what a script ran. A compare-and-set storm (writers of one process retrying against each
 * other) once cost ~26 compare-and-sets per write here, and held a server at 2.2k req/s on full CPU.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/services.js";
import type { SessionChanges, StoredSession } from "../../src/stores/contract.js";
import { RedisStore } from "../../src/stores/redis.js";
import { MAX_BATCH } from "../../src/stores/turn-batch.js";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";

const hasRedisServer = requireTool(spawnSync("redis-server", ["--version"]).status === 0, "the Redis contention tests need redis-server on PATH", "Install redis-server.");

const WRITERS = 50;
const MAX_AGE = 60_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

let child: ChildProcess | undefined;
let url = "";
let admin: Redis;

/**
 * Client-sent commands (script-internal ones excluded) while `work` runs. For EVALSHA and EVAL,
 * `evalshaKeys` / `evalKeys` add up the keys each call names: the store sends the compare-and-sets of
 * one event-loop turn as one script call over many keys, and each key is one compare-and-set.
 */
async function countCommands(work: () => Promise<unknown>): Promise<Record<string, number>> {
  const monitor = await new Redis(url).monitor();
  const counts: Record<string, number> = {};
  const marker = `end-${Math.random()}`;
  let sawMarker = false;
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (args[0]?.toLowerCase() === "echo" && args[1] === marker) sawMarker = true;
    if (source === "lua" || sawMarker) return;
    const name = (args[0] ?? "").toLowerCase();
    counts[name] = (counts[name] ?? 0) + 1;
    if (name === "evalsha" || name === "eval") counts[`${name}Keys`] = (counts[`${name}Keys`] ?? 0) + Number(args[2]);
  });
  await work();
  // Redis reports commands in the order it ran them: once our marker shows, every write was seen.
  await admin.echo(marker);
  while (!sawMarker) await sleep(5);
  monitor.disconnect();
  return counts;
}

/** What the middleware hands a store: this request's change, the text it loaded and the result. */
function changes(base: string, name: string): SessionChanges {
  const stored = JSON.parse(base) as StoredSession;
  stored[name] = true;
  return { set: { [name]: true }, unset: [], reserved: { _expire: stored._expire }, base, result: JSON.stringify(stored) };
}

function session(): StoredSession {
  return { _expire: Date.now() + MAX_AGE, userId: "u1" } as StoredSession;
}

describe.skipIf(!hasRedisServer)("RedisStore merges under 50-way contention on one session (private redis-server)", () => {
  beforeAll(async () => {
    const port = await freePort();
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    url = `redis://127.0.0.1:${port}`;
    admin = new Redis(url, { lazyConnect: true, retryStrategy: () => 50 });
    admin.on("error", () => undefined); // refused until redis-server listens
    await admin.connect().catch(() => undefined);
    while ((await admin.ping().catch(() => "")) !== "PONG") await sleep(50);
  });

  afterAll(async () => {
    admin?.disconnect();
    child?.kill("SIGTERM");
  });

  // Here, not in redis.test.ts: SCRIPT FLUSH empties the script cache of the whole server, and on the
  // shared one it made other test files' script counts flaky (redis-batch.test.ts saw a NOSCRIPT retry).
  for (const { name, Redis: Client } of IOREDIS_VERSIONS) {
    it(`${name}: merge and touch keep working after the script cache is flushed (Redis restart, SCRIPT FLUSH)`, async () => {
      const store = new RedisStore({ client: new Client(url), keyPrefix: "flush:" });
      const client = store.client as Redis;
      try {
        const stored = { _expire: Date.now() + 60_000, a: 1 };
        await store.set("k", stored, 60_000);
        await admin.script("FLUSH");
        expect(await store.merge("k", { set: { b: 2 }, unset: [], reserved: {} }, 60_000)).toBe(true);
        await admin.script("FLUSH");
        await store.touch("k", { ...stored, _expire: Date.now() + 120_000 }, 120_000);
        expect(await store.get("k")).toMatchObject({ a: 1, b: 2 });
        expect(await admin.pttl("flush:s:k")).toBeGreaterThan(60_000);
        // A merge into a missing entry still reports it gone, through the fallback too.
        await admin.script("FLUSH");
        expect(await store.merge("gone", { set: { b: 2 }, unset: [], reserved: {} }, 60_000)).toBe(false);
      } finally {
        await client.quit();
      }
    });
  }

  it("fresh Redis, every request loaded the current text: one compare-and-set per write, no read, every key lands", async () => {
    const store = new RedisStore({ url, keyPrefix: "fresh:" });
    try {
      await store.set("k", session(), MAX_AGE);
      const base = (await admin.get("fresh:s:k")) as string;
      await admin.script("FLUSH"); // an empty script cache, whatever ran before
      const counts = await countCommands(() => Promise.all(Array.from({ length: WRITERS }, (_, i) => store.merge("k", changes(base, `k${i}`), MAX_AGE))));
      const final = JSON.parse((await admin.get("fresh:s:k")) as string) as Record<string, unknown>;
      for (let i = 0; i < WRITERS; i++) expect(final[`k${i}`]).toBe(true);
      // The scripts are loaded ahead of the first EVALSHA on the same connection: no NOSCRIPT fallback.
      expect(counts.evalshaKeys ?? 0).toBe(WRITERS);
      // Issued in one turn: one script call carries up to MAX_BATCH of them.
      expect(counts.evalsha ?? 0).toBe(Math.ceil(WRITERS / MAX_BATCH));
      expect(counts.eval ?? 0).toBe(0);
      expect(counts.get ?? 0).toBe(0);
      // One SCRIPT LOAD per script the store has (compare-and-set, user index), sent ahead of the first EVALSHA.
      expect(counts.script ?? 0).toBeLessThanOrEqual(4);
    } finally {
      await store.close();
    }
  });

  it("every request loaded a stale text (a write landed since): at most two compare-and-sets per write", async () => {
    const store = new RedisStore({ url, keyPrefix: "stale:" });
    try {
      await store.set("k", session(), MAX_AGE);
      const stale = (await admin.get("stale:s:k")) as string;
      // Another process writes after every request read.
      await admin.set("stale:s:k", JSON.stringify({ ...JSON.parse(stale), other: "process" }), "PX", MAX_AGE);
      const counts = await countCommands(() => Promise.all(Array.from({ length: WRITERS }, (_, i) => store.merge("k", changes(stale, `k${i}`), MAX_AGE))));
      const final = JSON.parse((await admin.get("stale:s:k")) as string) as Record<string, unknown>;
      expect(final.other).toBe("process");
      for (let i = 0; i < WRITERS; i++) expect(final[`k${i}`]).toBe(true);
      const casCalls = (counts.evalshaKeys ?? 0) + (counts.evalKeys ?? 0);
      // Every writer's first attempt fails (the text moved); its retry joins the new chain.
      expect(casCalls).toBeGreaterThanOrEqual(WRITERS + 1);
      expect(casCalls).toBeLessThanOrEqual(2 * WRITERS);
      expect(counts.get ?? 0).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("script cache flushed under a warm store (Redis restarted): writes in flight fall back once, then one per write", async () => {
    const store = new RedisStore({ url, keyPrefix: "flushed:" });
    try {
      await store.set("k", session(), MAX_AGE);
      const base = (await admin.get("flushed:s:k")) as string;
      await store.merge("k", changes(base, "warm"), MAX_AGE); // loads the scripts
      await admin.script("FLUSH");
      const loaded = (await admin.get("flushed:s:k")) as string;
      const first = await countCommands(() => Promise.all(Array.from({ length: WRITERS }, (_, i) => store.merge("k", changes(loaded, `a${i}`), MAX_AGE))));
      const afterFlush = (await admin.get("flushed:s:k")) as string;
      const second = await countCommands(() => Promise.all(Array.from({ length: WRITERS }, (_, i) => store.merge("k", changes(afterFlush, `b${i}`), MAX_AGE))));
      const final = JSON.parse((await admin.get("flushed:s:k")) as string) as Record<string, unknown>;
      for (let i = 0; i < WRITERS; i++) expect([final[`a${i}`], final[`b${i}`]]).toEqual([true, true]);
      expect(final.warm).toBe(true);
      // In flight when the cache was empty: EVALSHA answered NOSCRIPT, then one EVAL each.
      expect((first.evalshaKeys ?? 0) + (first.evalKeys ?? 0)).toBeLessThanOrEqual(2 * WRITERS);
      // The next burst finds the scripts reloaded: one compare-and-set per write, MAX_BATCH to an EVALSHA.
      expect(second.evalshaKeys ?? 0).toBe(WRITERS);
      expect(second.evalsha ?? 0).toBe(Math.ceil(WRITERS / MAX_BATCH));
      expect(second.eval ?? 0).toBe(0);
    } finally {
      await store.close();
    }
  });
});
