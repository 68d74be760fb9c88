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
import { BENCH_DIR, HAS_TASKSET, get, login, median, onExit, runLoadProcess, startPrivateRedis, startServer } from "./lib/harness.js";
import { classify, commandstats, delta, deletePrefix, monitorCount, type CommandCounts } from "./lib/redis-count.js";
import type { LoadResult } from "./load.js";

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

interface CaseRun {
  load: LoadResult;
  reads: number | null;
  writes: number | null;
  detail: CommandCounts | null;
  commandstatsPerRequest: CommandCounts | null;
  /** CPU µs per completed request over the timed run: the server process, and the private Redis. */
  serverCpuUs: number | null;
  redisCpuUs: number | null;
}

export interface CaseSummary {
  name: string;
  reqPerSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  storeReadsPerRequest: number | null;
  storeWritesPerRequest: number | null;
  skipped?: string;
  runs?: number;
  reqPerSecRuns?: number[];
  /** Medians of CPU µs per request (server process; private Redis). */
  serverCpuUsPerRequest?: number | null;
  redisCpuUsPerRequest?: number | null;
  storeOpsPerRequest?: CommandCounts | null;
  redisCommandstatsPerRequest?: CommandCounts | null;
  errors?: number;
  non2xx?: number;
}

function perRequest(counts: CommandCounts, requests: number): CommandCounts {
  const out: CommandCounts = {};
  for (const [name, calls] of Object.entries(counts)) out[name] = round(calls / requests, 3);
  return out;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

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

function summarize(def: CaseDef, runs: CaseRun[], skipped: string | undefined): CaseSummary {
  if (skipped !== undefined || runs.length === 0) {
    return {
      name: def.name,
      reqPerSec: null,
      p50Ms: null,
      p99Ms: null,
      storeReadsPerRequest: null,
      storeWritesPerRequest: null,
      skipped: skipped ?? "no run completed",
    };
  }
  const countable = runs.filter((run) => run.reads !== null);
  const last = runs[runs.length - 1] as CaseRun;
  return {
    name: def.name,
    reqPerSec: round(median(runs.map((run) => run.load.reqPerSec)), 0),
    p50Ms: median(runs.map((run) => run.load.p50Ms)),
    p99Ms: median(runs.map((run) => run.load.p99Ms)),
    storeReadsPerRequest: countable.length ? round(median(countable.map((run) => run.reads as number)), 3) : null,
    storeWritesPerRequest: countable.length ? round(median(countable.map((run) => run.writes as number)), 3) : null,
    runs: runs.length,
    reqPerSecRuns: runs.map((run) => round(run.load.reqPerSec, 0)),
    serverCpuUsPerRequest: medianOf(runs.map((run) => run.serverCpuUs)),
    redisCpuUsPerRequest: medianOf(runs.map((run) => run.redisCpuUs)),
    storeOpsPerRequest: last.detail,
    redisCommandstatsPerRequest: last.commandstatsPerRequest,
    errors: runs.reduce((sum, run) => sum + run.load.errors + run.load.timeouts, 0),
    non2xx: runs.reduce((sum, run) => sum + run.load.non2xx, 0),
  };
}

function medianOf(values: (number | null)[]): number | null {
  const known = values.filter((value): value is number => value !== null && Number.isFinite(value));
  return known.length === 0 ? null : round(median(known), 1);
}

function format(value: number | null | undefined, digits = 0): string {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);
}

export function markdownTable(cases: CaseSummary[]): string {
  const bare = cases.find((entry) => entry.name === "koa-bare")?.reqPerSec ?? null;
  const lines = [
    "| case | req/s | × koa-bare | p50 ms | p99 ms | store reads/req | store writes/req | server CPU µs/req | Redis CPU µs/req |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const entry of cases) {
    if (entry.skipped !== undefined) {
      lines.push(`| ${entry.name} | skipped: ${entry.skipped} | | | | | | | |`);
      continue;
    }
    const ratio = bare && entry.reqPerSec !== null ? (entry.reqPerSec / bare).toFixed(2) : "–";
    lines.push(
      `| ${entry.name} | ${format(entry.reqPerSec)} | ${ratio} | ${format(entry.p50Ms)} | ${format(entry.p99Ms)} | ${format(entry.storeReadsPerRequest, 2)} | ${format(entry.storeWritesPerRequest, 2)} | ${format(entry.serverCpuUsPerRequest)} | ${format(entry.redisCpuUsPerRequest, 1)} |`,
    );
  }
  return lines.join("\n");
}

export function targetChecks(cases: CaseSummary[]): string {
  const byName = new Map(cases.map((entry) => [entry.name, entry]));
  const lines: string[] = [];
  const ratioCheck = (subject: string, baseline: string, wanted: number): void => {
    const a = byName.get(subject)?.reqPerSec ?? null;
    const b = byName.get(baseline)?.reqPerSec ?? null;
    if (a === null || b === null || b === 0) {
      lines.push(`- SKIP ${subject} ≥ ${wanted} × ${baseline}: not measured`);
      return;
    }
    const ratio = a / b;
    lines.push(`- ${ratio >= wanted ? "PASS" : "MISS"} ${subject} ≥ ${wanted} × ${baseline}: ${ratio.toFixed(2)}×`);
  };
  const cpuCheck = (subject: string, baseline: string, allowed: number): void => {
    const cpu = (name: string): number | null => {
      const entry = byName.get(name);
      if (entry?.serverCpuUsPerRequest == null) return null;
      return entry.serverCpuUsPerRequest + (entry.redisCpuUsPerRequest ?? 0);
    };
    const a = cpu(subject);
    const b = cpu(baseline);
    if (a === null || b === null || b === 0) {
      lines.push(`- SKIP ${subject} CPU/req ≤ ${allowed} × ${baseline}: not measured`);
      return;
    }
    const ratio = a / b;
    lines.push(`- ${ratio <= allowed ? "PASS" : "MISS"} ${subject} CPU/req ≤ ${allowed} × ${baseline}: ${ratio.toFixed(2)}× (${a.toFixed(0)} vs ${b.toFixed(0)} µs)`);
  };
  ratioCheck("sessionkit-redis-read", "koa-session-redis-read", 1.5);
  ratioCheck("sessionkit-redis-write", "koa-session-redis-write", 1.3);
  ratioCheck("sessionkit-postgres-read", "express-session-postgres-read", 3);
  ratioCheck("sessionkit-cookie-read", "koa-session-cookie-read", 1.5);
  ratioCheck("sessionkit-memory-read", "koa-bare", 0.8);
  // Issue 9: writing only the changed keys (merge) may cost at most 10 % against whole-object set().
  ratioCheck("sessionkit-memory-write", "sessionkit-memory-write-set", 0.9);
  ratioCheck("sessionkit-redis-write", "sessionkit-redis-write-set", 0.9);
  // The same budget on CPU per request (server + Redis), which VM steal time does not move.
  cpuCheck("sessionkit-memory-write", "sessionkit-memory-write-set", 1.1);
  cpuCheck("sessionkit-redis-write", "sessionkit-redis-write-set", 1.1);
  for (const entry of cases) {
    if (!entry.name.startsWith("sessionkit-") || !entry.name.endsWith("-read")) continue;
    const cookie = entry.name === "sessionkit-cookie-read";
    if (entry.skipped !== undefined) {
      lines.push(`- SKIP ${entry.name} store ops: ${entry.skipped}`);
      continue;
    }
    const wantReads = cookie ? null : 1;
    const reads = entry.storeReadsPerRequest;
    const writes = entry.storeWritesPerRequest;
    const pass = cookie ? reads === null && writes === null : reads === wantReads && writes === 0;
    const shown = cookie ? "no store (0/0)" : `${format(reads, 3)} reads / ${format(writes, 3)} writes per request`;
    lines.push(`- ${pass ? "PASS" : "MISS"} ${entry.name} ${cookie ? "0 store ops" : "exactly 1 read, 0 writes"}: ${shown}`);
  }
  return lines.join("\n");
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
