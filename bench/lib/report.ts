/**
 * What a benchmark run reports: per-case medians over the rounds (summarize), the Markdown table and
 * the PASS/MISS target checks. Pure functions of the measured runs; bench/run.ts measures.
 */
import type { CaseDef } from "./cases.js";
import { median } from "./harness.js";
import type { CommandCounts } from "./redis-count.js";
import type { LoadResult } from "./wrk.js";

export interface CaseRun {
  load: LoadResult;
  reads: number | null;
  writes: number | null;
  detail: CommandCounts | null;
  commandstatsPerRequest: CommandCounts | null;
  /** CPU µs per completed request over the timed run: the server process, and the private Redis. */
  serverCpuUs: number | null;
  /** Median share of one core the server process used over the timed run's sampling intervals, %. */
  serverCpuPct: number | null;
  redisCpuUs: number | null;
  /** Logged-in sessions the requests were spread over. */
  sessions: number;
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
  /** Median over the runs of each run's median server CPU share (% of one core); null when not measured. */
  serverCpuPct: number | null;
  /** Medians of CPU µs per request (server process; private Redis). */
  serverCpuUsPerRequest?: number | null;
  /** Server CPU µs per request of each round, in round order (null where not measured). */
  serverCpuUsRuns?: (number | null)[];
  sessions?: number;
  redisCpuUsPerRequest?: number | null;
  /** Private Redis's CPU µs per request of each round (null where not measured). */
  redisCpuUsRuns?: (number | null)[];
  storeOpsPerRequest?: CommandCounts | null;
  redisCommandstatsPerRequest?: CommandCounts | null;
  errors?: number;
  non2xx?: number;
}

export function perRequest(counts: CommandCounts, requests: number): CommandCounts {
  const out: CommandCounts = {};
  for (const [name, calls] of Object.entries(counts)) out[name] = round(calls / requests, 3);
  return out;
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function summarize(def: CaseDef, runs: CaseRun[], skipped: string | undefined): CaseSummary {
  if (skipped !== undefined || runs.length === 0) {
    return {
      name: def.name,
      reqPerSec: null,
      p50Ms: null,
      p99Ms: null,
      storeReadsPerRequest: null,
      storeWritesPerRequest: null,
      serverCpuPct: null,
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
    serverCpuPct: medianOf(runs.map((run) => run.serverCpuPct)),
    runs: runs.length,
    sessions: last.sessions,
    reqPerSecRuns: runs.map((run) => round(run.load.reqPerSec, 0)),
    serverCpuUsPerRequest: medianOf(runs.map((run) => run.serverCpuUs)),
    serverCpuUsRuns: runs.map((run) => (run.serverCpuUs === null ? null : round(run.serverCpuUs, 1))),
    redisCpuUsPerRequest: medianOf(runs.map((run) => run.redisCpuUs)),
    redisCpuUsRuns: runs.map((run) => (run.redisCpuUs === null ? null : round(run.redisCpuUs, 1))),
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

/** Below this, bare Koa's server was waiting for the generator: the run measured the client. */
export const VALID_BARE_CPU_PCT = 90;

/** A run is valid when the bare Koa server was saturated (≥ 90 % of its core). */
export function validity(cases: CaseSummary[]): { valid: boolean; bareCpuPct: number | null; line: string } {
  const bareEntry = cases.find((entry) => entry.name === "koa-bare");
  const bareCpuPct = bareEntry?.serverCpuPct ?? null;
  // How fast the machine was in each round: a spread here is why targets are paired by round.
  const perRound = bareEntry?.serverCpuUsRuns?.length ? `; koa-bare per round: ${bareEntry.serverCpuUsRuns.map((us) => format(us, 1)).join(", ")} µs/req` : "";
  if (bareCpuPct === null) return { valid: false, bareCpuPct, line: "VALIDITY UNKNOWN: koa-bare was not measured in this run, so nothing shows that the generator saturated the server" };
  const valid = bareCpuPct >= VALID_BARE_CPU_PCT;
  return {
    valid,
    bareCpuPct,
    line: valid
      ? `VALID: koa-bare's server used ${bareCpuPct} % of its core (≥ ${VALID_BARE_CPU_PCT} %)${perRound}`
      : `INVALID: koa-bare's server used only ${bareCpuPct} % of its core (< ${VALID_BARE_CPU_PCT} %): the generator or other load on the machine, not the server, set the pace; ratios are not comparable${perRound}`,
  };
}

/** Sum of the Redis commands per request over the timed run (script-internal ones included): a CAS storm shows here. */
function redisCommands(entry: CaseSummary): number | null {
  const counts = entry.redisCommandstatsPerRequest;
  return counts ? Object.values(counts).reduce((sum, value) => sum + value, 0) : null;
}

/**
 * subject ÷ baseline, taken round by round and then the median: the two cases of a round ran
 * minutes apart at most (paired cases run back to back, see CASES), while rounds can land in different
 * speeds of a shared VM. A ratio of two medians would compare one case's fast round with the other's
 * slow one. Falls back to the medians when the rounds do not pair up.
 */
function pairedRatio(subject: CaseSummary | undefined, baseline: CaseSummary | undefined, pick: (entry: CaseSummary) => (number | null)[] | undefined, invert = false): number | null {
  const a = subject ? pick(subject) : undefined;
  const b = baseline ? pick(baseline) : undefined;
  if (!a || !b || a.length === 0 || a.length !== b.length) return null;
  const ratios: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x == null || y == null || x === 0 || y === 0) return null;
    ratios.push(invert ? y / x : x / y);
  }
  return median(ratios);
}

/** subject's req/s over baseline's, paired by round. */
function rateRatio(subject: CaseSummary | undefined, baseline: CaseSummary | undefined): number | null {
  const paired = pairedRatio(subject, baseline, (entry) => entry.reqPerSecRuns);
  if (paired !== null) return paired;
  const a = subject?.reqPerSec;
  const b = baseline?.reqPerSec;
  return a && b ? a / b : null;
}

/**
 * The req/s ratio a saturated server would show: baseline server CPU µs per request over the
 * subject's, paired by round. On a machine shared with other work (an INVALID run) it is the steadier of the two.
 */
function cpuRatio(subject: CaseSummary | undefined, baseline: CaseSummary | undefined): number | null {
  const paired = pairedRatio(subject, baseline, (entry) => entry.serverCpuUsRuns, true);
  if (paired !== null) return paired;
  const a = subject?.serverCpuUsPerRequest;
  const b = baseline?.serverCpuUsPerRequest;
  return a && b ? b / a : null;
}

/**
 * Server plus private-Redis CPU µs per request of each round: issue 9's budget counts the work a
 * write costs wherever it runs (a Lua merge moves some of it into Redis).
 */
function totalCpuRuns(entry: CaseSummary): (number | null)[] | undefined {
  return entry.serverCpuUsRuns?.map((server, i) => (server === null ? null : server + (entry.redisCpuUsRuns?.[i] ?? entry.redisCpuUsPerRequest ?? 0)));
}

export function markdownTable(cases: CaseSummary[]): string {
  const bareEntry = cases.find((entry) => entry.name === "koa-bare");
  const lines = [
    "| case | req/s | × koa-bare | p50 ms | p99 ms | server CPU % | server CPU µs/req | × koa-bare by CPU | store reads/req | store writes/req | Redis CPU µs/req | Redis cmds/req (timed) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const entry of cases) {
    if (entry.skipped !== undefined) {
      lines.push(`| ${entry.name} | skipped: ${entry.skipped} | | | | | | | | | | |`);
      continue;
    }
    const ratio = format(rateRatio(entry, bareEntry), 2);
    lines.push(
      `| ${entry.name} | ${format(entry.reqPerSec)} | ${ratio} | ${format(entry.p50Ms, 2)} | ${format(entry.p99Ms, 2)} | ${format(entry.serverCpuPct)} | ` +
        `${format(entry.serverCpuUsPerRequest, 1)} | ${format(cpuRatio(entry, bareEntry), 2)} | ${format(entry.storeReadsPerRequest, 2)} | ${format(entry.storeWritesPerRequest, 2)} | ` +
        `${format(entry.redisCpuUsPerRequest, 1)} | ${format(redisCommands(entry), 2)} |`,
    );
  }
  return lines.join("\n");
}

/** [subject, baseline, minimum req/s ratio]: issue 17's five first (its cookie read is cookieCheck), then the older ones. */
const RATIO_TARGETS: readonly [string, string, number][] = [
  ["sessionkit-memory-read", "koa-bare", 0.75],
  ["sessionkit-memory-write", "koa-bare", 0.5],
  ["sessionkit-redis-write", "koa-session-redis-write", 1.5],
  ["sessionkit-redis-write-contended", "koa-session-redis-write-contended", 1.5],
  ["sessionkit-redis-read", "koa-session-redis-read", 1.8],
  // No compare-and-set storm on a fresh Redis: the cold window keeps at least half the warm rate.
  ["sessionkit-redis-write-cold", "sessionkit-redis-write-contended", 0.5],
  ["sessionkit-postgres-read", "express-session-postgres-read", 3],
  // Issue 9: writing only the changed keys (merge) may cost at most 10 % against whole-object set().
  ["sessionkit-memory-write", "sessionkit-memory-write-set", 0.9],
  ["sessionkit-redis-write", "sessionkit-redis-write-set", 0.9],
];

/**
 * Issue 17's cookie-read target, restated (bench/README "Targets"). It was worded as ≥ 2.5× the req/s
 * of koa-session's cookie read, but no middleware can beat koa-bare, and in the VM's fast phase
 * koa-bare itself is only 2.2–2.3× koa-session's cookie read: the wording could be met only in runs
 * where koa-session happened to be slow. What a session middleware controls is the CPU it adds to
 * bare Koa, so the target is on that: koa-sessionkit's cookie read adds at most 1/6 of what
 * koa-session's adds. That is the 2.5× at the ceilings (3.5–3.8×) of the slow-phase runs the issue's
 * numbers came from: (ceiling / 2.5 − 1) / (ceiling − 1) = 0.16–0.18. Paired by round, median.
 * The req/s ratio and its ceiling are still printed, as information.
 */
export const COOKIE_ADDED_SHARE = 1 / 6;

function cookieCheck(byName: Map<string, CaseSummary>): string[] {
  const bare = byName.get("koa-bare");
  const theirs = byName.get("koa-session-cookie-read");
  const ours = byName.get("sessionkit-cookie-read");
  const wanted = `sessionkit-cookie-read adds ≤ 1/6 of the server CPU per request koa-session-cookie-read adds over koa-bare`;
  const share = addedShare(ours, theirs, bare);
  const ceiling = rateRatio(bare, theirs);
  const rate = rateRatio(ours, theirs);
  if (share === null || ceiling === null || rate === null || !bare || !theirs || !ours) return [`- SKIP ${wanted}: not measured`];
  const added = (entry: CaseSummary): string => format((entry.serverCpuUsPerRequest ?? Number.NaN) - (bare.serverCpuUsPerRequest ?? Number.NaN), 1);
  return [
    `- ${share <= COOKIE_ADDED_SHARE ? "PASS" : "MISS"} ${wanted}: ${share.toFixed(3)} (medians: ${added(ours)} µs vs ${added(theirs)} µs)`,
    `  (req/s: ${rate.toFixed(2)}× koa-session-cookie-read; ceiling, koa-bare's own ratio, ${ceiling.toFixed(2)}×; issue 17's first wording, ≥ 2.5×, is reachable only when the ceiling is)`,
  ];
}

/** (subject − bare) ÷ (baseline − bare) in server CPU µs per request, round by round, then the median. */
function addedShare(subject: CaseSummary | undefined, baseline: CaseSummary | undefined, bare: CaseSummary | undefined): number | null {
  const a = subject?.serverCpuUsRuns;
  const b = baseline?.serverCpuUsRuns;
  const z = bare?.serverCpuUsRuns;
  if (!a || !b || !z || a.length === 0 || a.length !== b.length || a.length !== z.length) return null;
  const shares: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    const base = z[i];
    if (x == null || y == null || base == null || y <= base) return null;
    shares.push((x - base) / (y - base));
  }
  return median(shares);
}

export function targetChecks(cases: CaseSummary[]): string {
  const byName = new Map(cases.map((entry) => [entry.name, entry]));
  const lines: string[] = [];
  const ratioCheck = (subject: string, baseline: string, wanted: number): void => {
    const a = byName.get(subject);
    const b = byName.get(baseline);
    // A cold case runs after every warm round, so its rounds never pair with a warm case's, even when
    // there are as many of them (--quick, --rounds 3 or fewer): compare the medians.
    const paired = subject.endsWith("-cold") === baseline.endsWith("-cold") && pairedRatio(a, b, (entry) => entry.reqPerSecRuns) !== null;
    const ratio = paired ? rateRatio(a, b) : a?.reqPerSec && b?.reqPerSec ? a.reqPerSec / b.reqPerSec : null;
    if (ratio === null) {
      lines.push(`- SKIP ${subject} ≥ ${wanted} × ${baseline}: not measured`);
      return;
    }
    const byCpu = paired ? cpuRatio(a, b) : a?.serverCpuUsPerRequest && b?.serverCpuUsPerRequest ? b.serverCpuUsPerRequest / a.serverCpuUsPerRequest : null;
    const how = paired ? "" : "; ratio of medians, not paired by round (the two cases ran different rounds)";
    lines.push(`- ${ratio >= wanted ? "PASS" : "MISS"} ${subject} ≥ ${wanted} × ${baseline}: ${ratio.toFixed(2)}× (by server CPU per request: ${format(byCpu, 2)}×${how})`);
  };
  const cpuCheck = (subject: string, baseline: string, allowed: number): void => {
    const a = byName.get(subject);
    const b = byName.get(baseline);
    const ratio = pairedRatio(a, b, totalCpuRuns);
    if (ratio === null) {
      lines.push(`- SKIP ${subject} CPU/req ≤ ${allowed} × ${baseline}: not measured`);
      return;
    }
    // Shown per round: the medians of the two cases may come from rounds at different VM speeds.
    const x = (a && totalCpuRuns(a)) ?? [];
    const y = (b && totalCpuRuns(b)) ?? [];
    const rounds = x.map((us, i) => `${format(us, 0)}/${format(y[i], 0)}`).join(", ");
    lines.push(`- ${ratio <= allowed ? "PASS" : "MISS"} ${subject} CPU/req ≤ ${allowed} × ${baseline}: ${ratio.toFixed(2)}× (median of rounds; µs per round ${rounds})`);
  };
  for (const [subject, baseline, wanted] of RATIO_TARGETS.slice(0, 5)) ratioCheck(subject, baseline, wanted);
  lines.push(...cookieCheck(byName));
  // Encrypted cookies: at least @fastify/secure-session's own cost relative to its bare framework.
  const fastify = rateRatio(byName.get("fastify-secure-session-read"), byName.get("fastify-bare")) ?? Number.NaN;
  const ours = rateRatio(byName.get("sessionkit-cookie-read"), byName.get("koa-bare")) ?? Number.NaN;
  const fastifyCpu = cpuRatio(byName.get("fastify-secure-session-read"), byName.get("fastify-bare"));
  const oursCpu = cpuRatio(byName.get("sessionkit-cookie-read"), byName.get("koa-bare"));
  lines.push(
    Number.isFinite(fastify) && Number.isFinite(ours)
      ? `- ${ours >= fastify ? "PASS" : "MISS"} sessionkit-cookie-read / koa-bare ≥ fastify-secure-session-read / fastify-bare: ${ours.toFixed(2)} vs ${fastify.toFixed(2)} ` +
          `(by server CPU per request: ${format(oursCpu, 2)} vs ${format(fastifyCpu, 2)})`
      : "- SKIP sessionkit-cookie-read / koa-bare ≥ fastify-secure-session-read / fastify-bare: not measured",
  );
  for (const [subject, baseline, wanted] of RATIO_TARGETS.slice(5)) ratioCheck(subject, baseline, wanted);
  // Issue 9's budget on CPU per request (server + Redis) too.
  cpuCheck("sessionkit-memory-write", "sessionkit-memory-write-set", 1.1);
  cpuCheck("sessionkit-redis-write", "sessionkit-redis-write-set", 1.1);
  for (const entry of cases) {
    if (!entry.name.startsWith("sessionkit-") || !entry.name.endsWith("-read")) continue;
    // Cookie mode keeps the session in the cookie: there is no store to count, so no check to pass.
    if (entry.name === "sessionkit-cookie-read") continue;
    if (entry.skipped !== undefined) {
      lines.push(`- SKIP ${entry.name} store ops: ${entry.skipped}`);
      continue;
    }
    const reads = entry.storeReadsPerRequest;
    const writes = entry.storeWritesPerRequest;
    if (reads === null && writes === null) {
      lines.push(`- SKIP ${entry.name} exactly 1 read, 0 writes: not counted (a shared Redis counts commands, not keys; put redis-server on the PATH)`);
      continue;
    }
    const pass = reads === 1 && writes === 0;
    lines.push(`- ${pass ? "PASS" : "MISS"} ${entry.name} exactly 1 read, 0 writes: ${format(reads, 3)} reads / ${format(writes, 3)} writes per request`);
  }
  return lines.join("\n");
}
