/**
 * RedisStore on a real 3-master Redis Cluster made by this test on loopback spare ports. Every command
 * the store sends touches one key, so sessions and user indexes spread over all slots must just work.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis, type Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/services.js";
import { RedisStore } from "../../src/stores/redis.js";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";
import { runStoreContract } from "./contract.js";

const hasRedis = requireTool(
  spawnSync("redis-server", ["--version"]).status === 0 && spawnSync("redis-cli", ["--version"]).status === 0,
  "the Redis Cluster tests need redis-server and redis-cli on PATH",
  "Install redis-server (it brings redis-cli).",
);

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Three client ports whose cluster bus ports (port + 10000) are free too. */
async function clusterPorts(): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = attempt === 0 ? 7101 : 17_000 + Math.floor(Math.random() * 3000);
    const ports = [base, base + 1, base + 2];
    const free = await Promise.all(ports.flatMap((port) => [portFree(port), portFree(port + 10_000)]));
    if (free.every(Boolean)) return ports;
  }
  throw new Error("no free ports for a test Redis Cluster");
}

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "sk-cluster-"));
let ports: number[] = [];
/** One Cluster client per ioredis major, on the same servers. */
const clusters = new Map<string, Cluster>();

async function startCluster(): Promise<void> {
  ports = await clusterPorts();
  for (const port of ports) {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"];
    args.push("--cluster-config-file", join(dir, `nodes-${port}.conf`), "--dir", dir);
    args.push("--save", "", "--appendonly", "no", "--daemonize", "no");
    children.push(spawn("redis-server", args, { stdio: "ignore" }));
  }
  for (const port of ports) {
    const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => 100 });
    await probe.connect().catch(() => undefined);
    while ((await probe.ping().catch(() => "")) !== "PONG") await sleep(50);
    probe.disconnect();
  }
  const create = spawnSync(
    "redis-cli",
    ["--cluster", "create", ...ports.map((port) => `127.0.0.1:${port}`), "--cluster-replicas", "0", "--cluster-yes"],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr}${create.stdout}`);
  const admin = new Redis({ port: ports[0], host: "127.0.0.1" });
  const deadline = Date.now() + 20_000;
  while (!String(await admin.cluster("INFO")).includes("cluster_state:ok")) {
    if (Date.now() > deadline) throw new Error("the test cluster never reached cluster_state:ok");
    await sleep(100);
  }
  await admin.quit();
  for (const { name, Cluster: ClusterClient } of IOREDIS_VERSIONS) {
    clusters.set(name, new ClusterClient(ports.map((port) => ({ host: "127.0.0.1", port }))));
  }
}

/** KEYS on every master: a Cluster has no single keyspace to scan. */
async function dumpCluster(client: Cluster, prefix: string): Promise<string> {
  const lines: string[] = [];
  for (const node of client.nodes("master")) {
    for (const key of await node.keys(`${prefix}*`)) {
      const value = (await node.type(key)) === "string" ? await node.get(key) : (await node.zrange(key, 0, -1)).join(" ");
      lines.push(`${key} ${value ?? ""}`);
    }
  }
  return lines.join("\n");
}

describe.skipIf(!hasRedis)("RedisStore on a Redis Cluster", () => {
  beforeAll(async () => {
    await startCluster();
  }, 60_000);

  afterAll(async () => {
    for (const cluster of clusters.values()) cluster.disconnect();
    for (const child of children) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  const clusterOf = (name: string): Cluster => {
    const cluster = clusters.get(name);
    if (!cluster) throw new Error("cluster not started");
    return cluster;
  };

  for (const { name } of IOREDIS_VERSIONS) {
    // Each major writes under its own prefix, so the two runs never see each other's keys.
    const tag = name.replace(/\W/g, "");
    runStoreContract(`RedisStore (${name} Cluster)`, async () => {
      const client = clusterOf(name);
      const store = new RedisStore({ client, keyPrefix: `ctest${tag}:` });
      return { store, rawDump: () => dumpCluster(client, `ctest${tag}:`), cleanup: () => store.close() };
    });

    it(`${name}: spreads sessions and user indexes over every master and still lists and destroys by user`, async () => {
      const cluster = clusterOf(name);
      const spread = `spread${tag}:`;
      const store = new RedisStore({ client: cluster, keyPrefix: spread });
      const now = Date.now();
      const users = Array.from({ length: 5 }, (_, i) => `user-${i}`);
      const keys = new Map<string, string[]>(users.map((user) => [user, []]));
      for (let i = 0; i < 100; i++) {
        const user = users[i % users.length] as string;
        const key = `sk:${i}-${Math.random().toString(36).slice(2)}`;
        keys.get(user)?.push(key);
        await store.set(key, { i, _sk: { createdAt: now, lastSeenAt: now + i, userId: user } }, 60_000);
      }
      // Both kinds of key land on all three masters, so nothing here relied on one slot.
      for (const node of cluster.nodes("master")) {
        expect((await node.keys(`${spread}s:*`)).length).toBeGreaterThan(10);
      }
      expect((await Promise.all(cluster.nodes("master").map((node) => node.keys(`${spread}u:*`)))).filter((k) => k.length > 0).length).toBeGreaterThan(1);

      for (const user of users) {
        const mine = keys.get(user) ?? [];
        for (const key of mine) expect(await store.get(key)).toMatchObject({ _sk: { userId: user } });
        const list = await store.listByUser(user);
        expect(list.map((entry) => entry.key).sort()).toEqual([...mine].sort());
        expect(list[0]?.lastSeenAt).toBeGreaterThan(list.at(-1)?.lastSeenAt ?? Infinity);
      }

      const [first, ...rest] = keys.get("user-0") ?? [];
      expect(await store.destroyByUser("user-0", { except: first })).toBe(rest.length);
      expect((await store.listByUser("user-0")).map((entry) => entry.key)).toEqual([first]);
      for (const key of rest) expect(await store.get(key)).toBeNull();
      expect(await store.listByUser("user-1")).toHaveLength(20);

      for (const list of keys.values()) for (const key of list) await store.destroy(key);
      for (const user of users) expect(await store.listByUser(user)).toEqual([]);
    });
  }
});
