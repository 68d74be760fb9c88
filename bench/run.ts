/**
 * `npm run bench` — peers and koa-sessionkit, each case its own server process (core 0) driven by
 * wrk on core 1, interleaved and repeated; medians are reported, with the server's CPU share.
 *
 *   npm run bench                        all cases, 8 interleaved rounds × 2 s windows, 50 connections
 *   npm run bench -- --quick             all cases once, 2 s each
 *   npm run bench -- --only a,b          just these cases
 *   npm run bench -- --scale             1,000 vs 1,000,000 live sessions per store (bench/scale.ts)
 *   npm run bench -- --profile <case>,…  the measured window under V8's profiler; µs/req by function family
 *     (add --survivors: the allocation table counts only objects that outlived a young-generation GC)
 *   npm run bench -- --generators        wrk vs autocannon (with and without workers) against koa-bare
 *   npm run bench -- --report <json>     print the table and checks of a saved run (bench/results/latest.json)
 *   other flags: --rounds N --duration S --connections N --sessions N (round-robin over N logins;
 *   default one per connection for writes, one for reads; the -contended/-cold cases always use one)
 *
 * Writes bench/results/latest.json and prints a Markdown table plus the target checks.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { CASES, REDIS_PREFIX } from "./lib/cases.js";
import { dropPgTables, PG_URL } from "./lib/pg-tables.js";
import { BENCH_DIR, HAS_TASKSET, onExit, onInterrupt, startPrivateRedis } from "./lib/harness.js";
import type { Environment } from "./lib/measure.js";
import { measureRounds, type Measured } from "./lib/rounds.js";
import { deletePrefix } from "./lib/redis-count.js";
import { markdownTable, round, summarize, targetChecks, validity, type CaseSummary } from "./lib/report.js";
import { HAS_WRK } from "./lib/wrk.js";

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
    survivors: { type: "boolean", default: false },
    generators: { type: "boolean", default: false },
    report: { type: "string" },
  },
  strict: true,
});

/** A flag that must be a positive whole number (wrk takes whole seconds); a clear error otherwise. */
function count(name: string, fallback: number): number {
  const raw = flags[name as "rounds" | "duration" | "connections" | "sessions"];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`koa-sessionkit bench: --${name} must be a whole number of at least 1, got ${JSON.stringify(raw)}`);
  return value;
}

function printReport(cases: CaseSummary[]): void {
  console.log(validity(cases).line);
  console.log("");
  console.log(markdownTable(cases));
  console.log("");
  console.log(targetChecks(cases));
  console.log("");
}

async function main(): Promise<void> {
  if (flags.scale) {
    const { runScale } = await import("./scale.js");
    await runScale({ counts: flags["scale-counts"], stores: flags["scale-stores"], quick: flags.quick === true });
    return;
  }
  if (flags.report !== undefined) {
    // Re-render a saved run (its table, validity and checks) without measuring anything.
    const saved = JSON.parse(readFileSync(flags.report, "utf8")) as { cases: CaseSummary[] };
    printReport(saved.cases);
    return;
  }
  if (!HAS_WRK) throw new Error("koa-sessionkit bench: wrk is not installed; install it (Debian/Ubuntu: apt-get install -y wrk) and run again");
  if (flags.generators) {
    const { runGenerators } = await import("./generators.js");
    await runGenerators(count("duration", 8), count("rounds", 2));
    return;
  }
  if (flags.profile !== undefined) {
    const { runProfile } = await import("./profile.js");
    await runProfile(flags.profile, count("duration", 8), flags.sessions === undefined ? undefined : count("sessions", 1), flags.survivors === true);
    return;
  }
  const quick = flags.quick === true;
  // Eight short windows per case (rounds.ts): a pair is measured seconds apart, and the median of
  // eight pairs outvotes the few that straddle a change of the machine's speed.
  const rounds = count("rounds", quick ? 1 : 8);
  const duration = count("duration", 2);
  // A cold case measures the first 10 s after a fresh start, so it runs at most three times.
  const coldDuration = quick ? duration : 10;
  const coldRounds = Math.min(rounds, 3);
  const warmup = quick ? 0.5 : 1;
  // Every window follows a minute of idling while the other cases ran (V8 may have dropped compiled
  // code meanwhile): a quarter second of unmeasured load first, in --quick too.
  const windowWarmup = 0.25;
  const connections = count("connections", 50);
  const sessions = flags.sessions === undefined ? undefined : count("sessions", 1);
  const sessionsShown = sessions === undefined ? "one session per connection for writes, one for reads" : `${sessions} session(s)`;
  const only = flags.only?.split(",").map((name) => name.trim()).filter(Boolean);
  const unknown = only?.filter((name) => !CASES.some((entry) => entry.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown case(s): ${unknown.join(", ")}; known: ${CASES.map((entry) => entry.name).join(", ")}`);
  const selected = CASES.filter((entry) => !only || only.includes(entry.name));
  // An empty selection would measure nothing and still overwrite results/latest.json.
  if (only && only.length === 0) throw new Error(`koa-sessionkit bench: --only names no case; known: ${CASES.map((entry) => entry.name).join(", ")}`);

  const privateRedis = await startPrivateRedis();
  const redisUrl = privateRedis?.url ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const sqliteDir = join(tmpdir(), `skbench-${process.pid}`);
  mkdirSync(sqliteDir, { recursive: true });
  onExit(() => rmSync(sqliteDir, { recursive: true, force: true }));
  const env: Environment = {
    redisUrl,
    redisPrivate: privateRedis !== undefined,
    pgUrl: PG_URL,
    pgProblem: selected.some((entry) => entry.backend === "postgres") ? await dropPgTables() : undefined,
    sqlitePath: join(sqliteDir, "sessions.sqlite"),
  };
  console.error(
    `node ${process.version}, ${cpus().length} cpus, taskset ${HAS_TASKSET ? "on (server core 0, wrk core 1)" : "unavailable"}, ` +
      `redis ${env.redisPrivate ? "private instance" : redisUrl}, ${rounds} interleaved round(s) × ${duration} s (cold cases: ${coldRounds} × ${coldDuration} s), ${connections} connections, ${sessionsShown}`,
  );

  // Other processes on this 2-core machine make numbers noisy: the load average is kept with the results.
  const loadAtStart = loadavg().map((value) => round(value, 2));
  let measured: Measured = { runs: new Map(), skipped: new Map() };
  // The same clean-up at the end and on Ctrl-C (a private Redis is killed with the other children).
  const cleanUp = async (): Promise<void> => {
    if (!privateRedis) {
      const client = new Redis(redisUrl);
      await deletePrefix(client, REDIS_PREFIX).catch(() => 0);
      client.disconnect();
    }
    if (!env.pgProblem) await dropPgTables();
  };
  const forget = onInterrupt(cleanUp);
  try {
    measured = await measureRounds(selected, env, { duration, coldDuration, warmup, connections, sessions, rounds, coldRounds, windowWarmup });
  } finally {
    forget();
    if (privateRedis) await privateRedis.stop();
    await cleanUp();
  }

  const cases = selected.map((def) => summarize(def, measured.runs.get(def.name) ?? [], measured.skipped.get(def.name)));
  const output = {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    date: new Date().toISOString(),
    quick,
    generator: "wrk (1 thread)",
    settings: { rounds, durationS: duration, coldRounds, coldDurationS: coldDuration, warmupS: warmup, windowWarmupS: windowWarmup, connections, sessions: sessions ?? "per-connection writes", pinned: HAS_TASKSET, privateRedis: env.redisPrivate },
    validity: validity(cases),
    loadAverage: { start: loadAtStart, end: loadavg().map((value) => round(value, 2)) },
    cases,
  };
  mkdirSync(join(BENCH_DIR, "results"), { recursive: true });
  writeFileSync(join(BENCH_DIR, "results/latest.json"), `${JSON.stringify(output, null, 2)}\n`);
  printReport(cases);
  console.log(`load average (1/5/15 min) at start ${loadAtStart.join(" ")}, at end ${output.loadAverage.end.join(" ")}; ${cpus().length} cpus`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    // A usage error (a bad flag, no wrk) is said in one line; anything else keeps its stack.
    const message = error instanceof Error ? error.message : "";
    console.error(/^(koa-sessionkit bench:|unknown case)/.test(message) ? message : error);
    process.exit(1);
  },
);
