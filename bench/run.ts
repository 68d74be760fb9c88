/**
 * `npm run bench` — peers and koa-sessionkit, each case its own server process (core 0) driven by
 * autocannon in another process (core 1), interleaved and repeated; medians are reported.
 *
 *   npm run bench                        all cases, 2 rounds × 8 s (+1 s warmup), 10 connections
 *   npm run bench -- --quick             all cases once, 2 s each
 *   npm run bench -- --only a,b          just these cases
 *   npm run bench -- --scale             1,000 vs 1,000,000 live sessions per store (bench/scale.ts)
 *   npm run bench -- --profile <case>    one case under node --cpu-prof; top self-time functions
 *   other flags: --rounds N --duration S --connections N --sessions N (round-robin over N logins)
 *
 * Writes bench/results/latest.json and prints a Markdown table plus the target checks.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import { CASES, PG_TABLE_CONNECT, PG_TABLE_SESSIONKIT, REDIS_PREFIX, type CaseDef } from "./lib/cases.js";
import { BENCH_DIR, HAS_TASKSET, get, login, onExit, runLoadProcess, startPrivateRedis, startServer } from "./lib/harness.js";
import { classify, commandstats, delta, deletePrefix, monitorCount, type CommandCounts } from "./lib/redis-count.js";
import { markdownTable, perRequest, round, summarize, targetChecks, type CaseRun } from "./lib/report.js";

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    scale: { type: "boolean", default: false },
    only: { type: "string" },
    rounds: { type: "string" },
    duration: { type: "string" },
    connections: { type: "string" },
    sessions: { type: "string" },
    "scale-counts": { type: "string" },
    "scale-stores": { type: "string" },
    profile: { type: "string" },
  },
  strict: true,
});

const SERVER_CORE = 0;
const LOAD_CORE = 1;
/** Requests in the store-counting pass that follows each timed run. */
const COUNTING_REQUESTS = 1000;
const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

async function pgReachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS ${PG_TABLE_SESSIONKIT}, ${PG_TABLE_CONNECT}`);
    return undefined;
  } catch (error) {
    return `PostgreSQL not reachable: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropPgTables(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS ${PG_TABLE_SESSIONKIT}, ${PG_TABLE_CONNECT}`);
  } catch {
    // nothing to clean if PostgreSQL is gone
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface Environment {
  redisUrl: string;
  redisPrivate: boolean;
  pgProblem: string | undefined;
  sqlitePath: string;
}

async function serverStats(port: number): Promise<{ reads: number; writes: number; byOperation: CommandCounts; cpuMicros?: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/__stats`);
  return (await response.json()) as { reads: number; writes: number; byOperation: CommandCounts; cpuMicros?: number };
}

/** CPU seconds (user + system) the Redis server has used; only meaningful on the private instance. */
async function redisCpuSeconds(client: Redis): Promise<number> {
  const text = await client.info("cpu");
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return field("used_cpu_user") + field("used_cpu_sys");
}

async function runCase(def: CaseDef, env: Environment, options: { duration: number; warmup: number; connections: number; sessions: number }): Promise<CaseRun | { skipped: string }> {
  if (def.backend === "postgres" && env.pgProblem) return { skipped: env.pgProblem };
  const started = await startServer(def.name, { REDIS_URL: env.redisUrl, PG_URL, SQLITE_PATH: env.sqlitePath }, SERVER_CORE);
  if (started.kind === "skipped") return { skipped: started.reason };
  const { server } = started;
  const redis = def.counting === "redis" ? new Redis(env.redisUrl) : undefined;
  try {
    const cookies: string[] = [];
    for (let i = 0; i < options.sessions; i++) cookies.push(await login(server.port));
    // The session must be valid before the load: a read returns the logged-in user, a write a count.
    const probe = await get(server.port, "/", cookies[0] ?? "");
    const ok = probe.status === 200 && (def.operation === "read" ? probe.body === "u1" : Number(probe.body) >= 1);
    if (!ok) throw new Error(`${def.name}: sanity request answered ${probe.status} ${JSON.stringify(probe.body.slice(0, 80))}`);
    const loadCookies = cookies.filter((cookie) => cookie.length > 0);
    const url = `http://127.0.0.1:${server.port}/`;
    if (options.warmup > 0) {
      await runLoadProcess({ url, connections: options.connections, duration: options.warmup, cookies: loadCookies }, LOAD_CORE);
    }

    const redisBefore = redis ? await commandstats(redis) : undefined;
    // CPU per request is far steadier than req/s on a shared VM (steal time moves req/s by ±20 %).
    const cpuRedis = redis && env.redisPrivate ? redis : undefined;
    const cpuBefore = { server: (await serverStats(server.port)).cpuMicros, redis: cpuRedis ? await redisCpuSeconds(cpuRedis) : undefined };
    const load = await runLoadProcess({ url, connections: options.connections, duration: options.duration, cookies: loadCookies }, LOAD_CORE);
    const cpuAfter = { server: (await serverStats(server.port)).cpuMicros, redis: cpuRedis ? await redisCpuSeconds(cpuRedis) : undefined };
    const served = Math.max(1, load.completed);
    const serverCpuUs = cpuBefore.server === undefined || cpuAfter.server === undefined ? null : (cpuAfter.server - cpuBefore.server) / served;
    const redisCpuUs = cpuBefore.redis === undefined || cpuAfter.redis === undefined ? null : ((cpuAfter.redis - cpuBefore.redis) * 1e6) / served;

    // Counting pass: a fixed number of requests, all completed (a timed run ends with requests in
    // flight that the server handles but autocannon never counts), same connections and cookies.
    let reads: number | null = null;
    let writes: number | null = null;
    let detail: CommandCounts | null = null;
    let commandstatsPerRequest: CommandCounts | null = null;
    if (def.counting !== null) {
      const amount = COUNTING_REQUESTS;
      const passSpec = { url, connections: options.connections, duration: 0, amount, cookies: loadCookies };
      let counted: CommandCounts;
      let split: { reads: number; writes: number };
      if (redis && redisBefore) {
        // Informational: commandstats over the timed run (includes commands run inside Lua scripts).
        commandstatsPerRequest = perRequest(delta(redisBefore, await commandstats(redis)), Math.max(1, load.completed));
        if (env.redisPrivate) {
          // Exact client-sent commands under MONITOR (script-internal commands excluded).
          const monitor = await monitorCount(env.redisUrl);
          await runLoadProcess(passSpec, LOAD_CORE);
          counted = await monitor.stop();
        } else {
          // Shared Redis: commandstats deltas (other clients' traffic and script internals included).
          const before = await commandstats(redis);
          await runLoadProcess(passSpec, LOAD_CORE);
          counted = delta(before, await commandstats(redis));
        }
        split = classify(counted);
      } else {
        const before = await serverStats(server.port);
        await runLoadProcess(passSpec, LOAD_CORE);
        const after = await serverStats(server.port);
        counted = {};
        for (const [name, calls] of Object.entries(after.byOperation)) {
          const difference = calls - (before.byOperation[name] ?? 0);
          if (difference > 0) counted[name] = difference;
        }
        split = { reads: after.reads - before.reads, writes: after.writes - before.writes };
      }
      reads = split.reads / amount;
      writes = split.writes / amount;
      detail = perRequest(counted, amount);
    }
    return { load, reads, writes, detail, commandstatsPerRequest, serverCpuUs, redisCpuUs };
  } finally {
    redis?.disconnect();
    await server.stop();
  }
}

async function main(): Promise<void> {
  if (flags.scale) {
    const { runScale } = await import("./scale.js");
    await runScale({ counts: flags["scale-counts"], stores: flags["scale-stores"], quick: flags.quick === true });
    return;
  }
  if (flags.profile !== undefined) {
    const { runProfile } = await import("./profile.js");
    await runProfile(flags.profile, Number(flags.duration ?? 8));
    return;
  }
  const quick = flags.quick === true;
  const rounds = Number(flags.rounds ?? (quick ? 1 : 2));
  const duration = Number(flags.duration ?? (quick ? 2 : 8));
  const warmup = quick ? 0.5 : 1;
  const connections = Number(flags.connections ?? 10);
  const sessions = Number(flags.sessions ?? 1);
  const only = flags.only?.split(",").map((name) => name.trim()).filter(Boolean);
  const unknown = only?.filter((name) => !CASES.some((entry) => entry.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown case(s): ${unknown.join(", ")}; known: ${CASES.map((entry) => entry.name).join(", ")}`);
  const selected = CASES.filter((entry) => !only || only.includes(entry.name));

  const privateRedis = await startPrivateRedis();
  const redisUrl = privateRedis?.url ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const sqliteDir = join(tmpdir(), `skbench-${process.pid}`);
  mkdirSync(sqliteDir, { recursive: true });
  onExit(() => rmSync(sqliteDir, { recursive: true, force: true }));
  const env: Environment = {
    redisUrl,
    redisPrivate: privateRedis !== undefined,
    pgProblem: selected.some((entry) => entry.backend === "postgres") ? await pgReachable() : undefined,
    sqlitePath: join(sqliteDir, "sessions.sqlite"),
  };
  console.error(
    `node ${process.version}, ${cpus().length} cpus, taskset ${HAS_TASKSET ? "on (server core 0, load core 1)" : "unavailable"}, ` +
      `redis ${env.redisPrivate ? "private instance" : redisUrl}, ${rounds} round(s) × ${duration} s, ${connections} connections, ${sessions} session(s)`,
  );

  // Other processes on this 2-core machine make numbers noisy: the load average is kept with the results.
  const loadAtStart = loadavg().map((value) => round(value, 2));
  const runs = new Map<string, CaseRun[]>();
  const skipped = new Map<string, string>();
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const def of selected) {
        if (skipped.has(def.name)) continue;
        const outcome = await runCase(def, env, { duration, warmup, connections, sessions }).catch((error: unknown) => ({
          skipped: `error: ${(error as Error).message.split("\n")[0] ?? ""}`,
        }));
        if ("skipped" in outcome) {
          skipped.set(def.name, outcome.skipped);
          console.error(`[${round}/${rounds}] ${def.name}: skipped (${outcome.skipped})`);
          continue;
        }
        runs.set(def.name, [...(runs.get(def.name) ?? []), outcome]);
        console.error(
          `[${round}/${rounds}] ${def.name}: ${outcome.load.reqPerSec.toFixed(0)} req/s, p50 ${outcome.load.p50Ms} ms, p99 ${outcome.load.p99Ms} ms, ` +
            `reads ${outcome.reads?.toFixed(3) ?? "–"}, writes ${outcome.writes?.toFixed(3) ?? "–"}` +
            (outcome.load.non2xx + outcome.load.errors > 0 ? `, non2xx ${outcome.load.non2xx}, errors ${outcome.load.errors}` : ""),
        );
      }
    }
  } finally {
    if (privateRedis) await privateRedis.stop();
    else {
      const client = new Redis(redisUrl);
      await deletePrefix(client, REDIS_PREFIX).catch(() => 0);
      client.disconnect();
    }
    if (!env.pgProblem) await dropPgTables();
  }

  const cases = selected.map((def) => summarize(def, runs.get(def.name) ?? [], skipped.get(def.name)));
  const output = {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    date: new Date().toISOString(),
    quick,
    settings: { rounds, durationS: duration, warmupS: warmup, connections, sessions, pinned: HAS_TASKSET, privateRedis: env.redisPrivate },
    loadAverage: { start: loadAtStart, end: loadavg().map((value) => round(value, 2)) },
    cases,
  };
  mkdirSync(join(BENCH_DIR, "results"), { recursive: true });
  writeFileSync(join(BENCH_DIR, "results/latest.json"), `${JSON.stringify(output, null, 2)}\n`);
  console.log(markdownTable(cases));
  console.log("");
  console.log(targetChecks(cases));
  console.log("");
  console.log(`load average (1/5/15 min) at start ${loadAtStart.join(" ")}, at end ${output.loadAverage.end.join(" ")}; ${cpus().length} cpus`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
