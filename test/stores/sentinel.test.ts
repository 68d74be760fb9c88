/**
 * Redis Sentinel failover, for real: one primary, one replica and three sentinels started by this test
 * on spare loopback ports. Two Koa apps log users in through RedisStore, one with the store's own
 * Sentinel client (`{ sentinels, name }`, ioredis 5) and one with a ready ioredis 6 Sentinel client
 * (`{ client }`). The primary is killed under load: every request answers 200 or 503 (never 500, never
 * a hang past storeTimeout), both apps recover on the promoted replica without a restart, and the
 * sessions written (and acknowledged by the replica through WAIT) before the failover still work.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/services.js";
import { parseConfig } from "../../app/config.js";
import { openResources } from "../../app/resources.js";
import { failFastRedisOptions, RedisStore } from "../../src/stores/redis.js";
import { buildApp, cookieHeader } from "../auth/helpers.js";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";
import { sparePort, waitForPort } from "../helpers/spare-ports.js";

const hasRedis = requireTool(spawnSync("redis-server", ["--version"]).status === 0, "the Redis Sentinel test needs redis-server on PATH", "Install redis-server.");

const [v5, v6] = IOREDIS_VERSIONS as [(typeof IOREDIS_VERSIONS)[0], (typeof IOREDIS_VERSIONS)[0]];
const NAME = "mymaster";
const STORE_TIMEOUT = 1000;
const dir = mkdtempSync(join(tmpdir(), "sk-sentinel-"));
const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterAll(async () => {
  for (const run of cleanups.reverse()) await run();
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function redisServer(args: string[]): ChildProcess {
  const child = spawn("redis-server", [...args, "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
  children.push(child);
  return child;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Primary, replica (linked), then three sentinels that know the replica and each other. */
async function startTopology() {
  const [primary, replica, ...sentinels] = await Promise.all(Array.from({ length: 5 }, () => sparePort())) as [number, number, ...number[]];
  const primaryProcess = redisServer(["--port", String(primary), "--bind", "127.0.0.1"]);
  redisServer(["--port", String(replica), "--bind", "127.0.0.1", "--replicaof", "127.0.0.1", String(primary)]);
  await Promise.all([waitForPort(primary), waitForPort(replica)]);
  const admin = (port: number) => {
    const client = new v5.Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    client.on("error", () => {});
    cleanups.push(() => client.disconnect());
    return client;
  };
  const replicaAdmin = admin(replica);
  // Sentinels learn replicas from the primary's INFO: start them once the replica is linked.
  await until("the replica link", async () => (await replicaAdmin.info("replication")).includes("master_link_status:up"));
  for (const port of sentinels) {
    const config = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      config,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${NAME} 127.0.0.1 ${primary} 2`,
        `sentinel down-after-milliseconds ${NAME} 1000`,
        `sentinel failover-timeout ${NAME} 3000`,
        `sentinel parallel-syncs ${NAME} 1`,
        "",
      ].join("\n"),
    );
    // Sentinel rewrites its config file, so each gets its own, in the test's temp dir.
    const child = spawn("redis-server", [config, "--sentinel"], { stdio: "ignore" });
    children.push(child);
  }
  await Promise.all(sentinels.map((port) => waitForPort(port)));
  for (const port of sentinels) {
    const sentinel = admin(port);
    await until(`sentinel ${port} to see the replica and the other sentinels`, async () => {
      const replicas = (await sentinel.call("SENTINEL", "REPLICAS", NAME)) as unknown[];
      const peers = (await sentinel.call("SENTINEL", "SENTINELS", NAME)) as unknown[];
      return replicas.length === 1 && peers.length === 2;
    });
  }
  return { primary, replica, primaryProcess, primaryAdmin: admin(primary), sentinels: sentinels.map((port) => ({ host: "127.0.0.1", port })), sentinelAdmin: admin(sentinels[0]!) };
}

interface Outcome {
  status: number;
  ms: number;
}

describe.skipIf(!hasRedis)("RedisStore on Redis Sentinel", () => {
  let topology: Awaited<ReturnType<typeof startTopology>>;
  beforeAll(async () => {
    topology = await startTopology();
  }, 40_000);

  it("fails over under load: 503s (never 500 or a hang), then recovers on the promoted replica with every session", async () => {

    // App A: the store's own Sentinel client. App B: a ready ioredis 6 Sentinel client, shared.
    const ownStore = new RedisStore({ sentinels: topology.sentinels, name: NAME, keyPrefix: "sentinel-a:" });
    const client6 = new v6.Redis({ ...failFastRedisOptions(), sentinels: topology.sentinels, name: NAME });
    client6.on("error", () => {});
    const sharedStore = new RedisStore({ client: client6, keyPrefix: "sentinel-b:" });
    cleanups.push(() => ownStore.close(), () => client6.disconnect());
    const apps = [ownStore, sharedStore].map((store) => {
      const built = buildApp({ store: null, session: { store, storeTimeout: STORE_TIMEOUT } });
      built.app.silent = true; // 503s are expected during the failover
      return built.server;
    });

    // Sessions before the failover, then one write WAITed for: the replica has everything before it.
    const sessions: { server: (typeof apps)[0]; cookie: string; user: string }[] = [];
    for (let i = 0; i < 20; i++) {
      const server = apps[i % 2]!;
      const user = `user-${i}`;
      const login = await request(server).post(`/login?id=${user}`);
      expect(login.status).toBe(200);
      sessions.push({ server, user, cookie: cookieHeader(login) });
    }
    await topology.primaryAdmin.set("sentinel-test:marker", "1");
    expect(await topology.primaryAdmin.call("WAIT", "1", "5000")).toBe(1);

    // Load: four workers reading and writing sessions until told to stop.
    const outcomes: Outcome[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const { server, cookie } = sessions[(w * 7 + n) % sessions.length]!;
        const started = Date.now();
        const res = n % 2 === 0 ? await request(server).get("/me").set("Cookie", cookie) : await request(server).post("/cart").set("Cookie", cookie);
        outcomes.push({ status: res.status, ms: Date.now() - started });
        await sleep(20);
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(worker));
    await sleep(300);
    topology.primaryProcess.kill("SIGKILL");
    const killedAt = Date.now();

    // The sentinels promote the replica (down-after 1 s, then the election).
    const promoted = await until("the sentinels to promote the replica", async () => {
      const [, port] = (await topology.sentinelAdmin.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)) as [string, string];
      return Number(port) === topology.replica && Date.now();
    });
    // Both apps answer again on the promoted replica: a read and a write in each, no restart.
    await until("both apps to recover", async () => {
      for (const server of apps) {
        const { cookie } = sessions.find((session) => session.server === server)!;
        if ((await request(server).post("/cart").set("Cookie", cookie)).status !== 200) return false;
      }
      return true;
    });
    const recoveredAt = Date.now();
    await sleep(500);
    stop = true;
    await load;

    const statuses = new Set(outcomes.map((outcome) => outcome.status));
    const slowest = Math.max(...outcomes.map((outcome) => outcome.ms));
    console.info(
      `sentinel failover: promoted ${promoted - killedAt} ms after the kill, apps recovered after ${recoveredAt - killedAt} ms; ` +
        `${outcomes.length} requests under load: ${outcomes.filter((o) => o.status === 200).length} × 200, ` +
        `${outcomes.filter((o) => o.status === 503).length} × 503, slowest ${slowest} ms`,
    );
    expect([...statuses].every((status) => status === 200 || status === 503)).toBe(true);
    expect(statuses.has(503)).toBe(true);
    // A request makes at most two store calls (load, then write), each cut off at storeTimeout.
    expect(slowest).toBeLessThan(2 * STORE_TIMEOUT + 1000);

    // Every session from before the failover is still logged in, on both apps; new logins work too.
    for (const { server, cookie, user } of sessions) {
      const me = await request(server).get("/me").set("Cookie", cookie);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ id: user });
    }
    for (const server of apps) expect((await request(server).post("/login?id=after")).status).toBe(200);
  }, 60_000);

  it("the reference app's REDIS_SENTINELS / REDIS_SENTINEL_NAME open a store on the current primary", async () => {
    const env = {
      SESSION_STORE: "redis",
      REDIS_SENTINELS: topology.sentinels.map(({ host, port }) => `${host}:${port}`).join(","),
      REDIS_SENTINEL_NAME: NAME,
      DATA_DIR: join(dir, "app-data"),
    };
    const resources = openResources(parseConfig(env));
    try {
      await resources.store.set("sk:app-config", { via: "sentinel" }, 60_000, {});
      expect(await resources.store.get("sk:app-config", 60_000, {})).toEqual({ via: "sentinel" });
      // It wrote to whichever server the sentinels name as primary (the promoted replica after the first test).
      const [, port] = (await topology.sentinelAdmin.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)) as [string, string];
      const primary = new v5.Redis({ port: Number(port), host: "127.0.0.1" });
      cleanups.push(() => primary.disconnect());
      expect(await primary.get("app:sess:s:sk:app-config")).toBe('{"via":"sentinel"}');
      await resources.store.destroy("sk:app-config", {});
    } finally {
      await resources.close();
    }
  });
});
