/**
 * Real outages: the server behind a store dies mid-run and comes back. Store calls must settle (reject)
 * within seconds while it is down, never hang, and the same store object must work again afterwards.
 * Each test runs its own throwaway server on a spare port, so the shared services are never touched.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/services.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { failFastRedisOptions, RedisStore } from "../../src/stores/redis.js";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";
import { sparePort, waitForPort } from "../helpers/spare-ports.js";

const hasRedisServer = requireTool(spawnSync("redis-server", ["--version"]).status === 0, "the Redis outage tests need redis-server on PATH", "Install redis-server.");
const pgVersion = existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql").sort().at(-1) : undefined;
const pgBin = pgVersion ? `/usr/lib/postgresql/${pgVersion}/bin` : undefined;
const canRunPostgres = requireTool(
  pgBin !== undefined && existsSync(`${pgBin}/initdb`) && spawnSync("id", ["postgres"]).status === 0,
  "the PostgreSQL outage tests need PostgreSQL's initdb (/usr/lib/postgresql/*/bin) and a postgres OS user",
  "Install the postgresql package.",
);

/** Resolves how a promise settled and after how long; fails the test if it has not settled by `limitMs`. */
async function settlesWithin<T>(promise: Promise<T>, limitMs: number) {
  const started = Date.now();
  const outcome = await Promise.race([
    promise.then(
      (value) => ({ status: "fulfilled" as const, value }),
      (error: unknown) => ({ status: "rejected" as const, error }),
    ),
    sleep(limitMs).then(() => ({ status: "hung" as const })),
  ]);
  return { ...outcome, ms: Date.now() - started };
}

async function eventually<T>(attempt: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

describe.skipIf(!hasRedisServer)("RedisStore during a Redis outage", () => {
  function startRedis(port: number): ChildProcess {
    const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    children.push(child);
    return child;
  }

  // ioredis 5 through url mode (the store's own client); ioredis 6 as a client the user made with
  // failFastRedisOptions(), the same policy.
  const modes = IOREDIS_VERSIONS.map(({ name, Redis: Client }, i) => ({
    name: i === 0 ? `${name}, url mode` : `${name}, { client } with failFastRedisOptions()`,
    make: (url: string) => {
      if (i === 0) return new RedisStore({ url, keyPrefix: "outage:" });
      const client = new Client(url, failFastRedisOptions());
      client.on("error", () => {}); // reconnect errors are expected here; callers see rejections
      return new RedisStore({ client, keyPrefix: "outage:" });
    },
    ownsClient: i === 0,
  }));

  it.each(modes)("$name: rejects quickly while Redis is down and recovers on its own when it returns", async ({ make, ownsClient }) => {
    const port = await sparePort();
    let server = startRedis(port);
    await waitForPort(port);
    const store = make(`redis://127.0.0.1:${port}`);
    try {
      await store.set("sk:a", { v: 1 }, 60_000);
      expect(await store.get("sk:a")).toEqual({ v: 1 });

      server.kill("SIGKILL");
      await new Promise((resolve) => server.once("exit", resolve));

      for (const call of [() => store.get("sk:a"), () => store.set("sk:b", { v: 2 }, 60_000), () => store.destroy("sk:a")]) {
        const outcome = await settlesWithin(call() as Promise<unknown>, 5000);
        expect(outcome.status).toBe("rejected");
      }

      server = startRedis(port);
      await waitForPort(port);
      // Same store object: the client reconnects by itself (data is gone: the server kept none).
      await eventually(() => store.set("sk:c", { v: 3 }, 60_000));
      expect(await store.get("sk:c")).toEqual({ v: 3 });
      expect(await store.merge("sk:c", { set: { w: 4 }, unset: [], reserved: {} }, 60_000)).toBe(true);
      expect(await store.get("sk:c")).toEqual({ v: 3, w: 4 });
    } finally {
      await store.close();
      if (!ownsClient) store.client.disconnect();
      server.kill("SIGKILL");
    }
  });
});

describe.skipIf(!canRunPostgres)("PostgresStore during a PostgreSQL outage", () => {
  const dir = mkdtempSync(join(tmpdir(), "sk-pg-outage-"));
  const dataDir = join(dir, "data");
  // initdb refuses to run as root, so the throwaway cluster belongs to the postgres OS user.
  const asPostgres = (command: string, args: string[]) => {
    const result = spawnSync("runuser", ["-u", "postgres", "--", command, ...args], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}${result.stdout}`);
  };
  const pgCtl = (...args: string[]) => asPostgres(`${pgBin}/pg_ctl`, ["-D", dataDir, "-w", "-t", "20", ...args]);
  afterAll(() => {
    try {
      pgCtl("stop", "-m", "immediate");
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("rejects quickly while PostgreSQL is down and the same pool recovers when it returns", async () => {
    const postgresUid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
    const postgresGid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
    chownSync(dir, postgresUid, postgresGid);
    asPostgres(`${pgBin}/initdb`, ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync"]);
    const port = await sparePort();
    const start = () => pgCtl("start", "-l", join(dataDir, "log.txt"), "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`);
    start();

    const store = new PostgresStore({
      connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
      pruneIntervalMs: false,
    });
    try {
      await store.set("sk:a", { v: 1 }, 60_000);
      expect(await store.get("sk:a")).toEqual({ v: 1 });

      pgCtl("stop", "-m", "immediate");
      for (const call of [() => store.get("sk:a"), () => store.set("sk:b", { v: 2 }, 60_000), () => store.destroy("sk:a")]) {
        const outcome = await settlesWithin(call() as Promise<unknown>, 6000);
        expect(outcome.status).toBe("rejected");
      }

      start();
      // Same store, same pool: dead connections were dropped and new ones are made on demand.
      const loaded = await eventually(() => store.get("sk:a"));
      expect(loaded).toEqual({ v: 1 });
      expect(await store.merge("sk:a", { set: { w: 2 }, unset: [], reserved: {} }, 60_000)).toBe(true);
      expect(await store.get("sk:a")).toEqual({ v: 1, w: 2 });
    } finally {
      await store.close();
    }
  }, 60_000);
});
