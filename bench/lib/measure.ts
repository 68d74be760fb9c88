/**
 * Measuring one case in three steps, so many cases can be up at once and measured in turn:
 *
 *   prepareCase   fresh server (and, for a cold case, a fresh Redis) → logins → sanity request → warmup
 *   timedRun      one timed wrk run with the server's CPU sampled from /proc (repeatable)
 *   countStoreOps a fixed-size counting pass for the store operations
 *
 * runCase does all three for one case and stops it (the cold cases, which measure a fresh start).
 */
import { Redis } from "ioredis";
import type { CaseDef } from "./cases.js";
import { sampleCpu } from "./cpu.js";
import { get, login, median, runLoadProcess, startPrivateRedis, startServer, type ServerHandle } from "./harness.js";
import { classify, commandstats, delta, monitorCount, type CommandCounts } from "./redis-count.js";
import { perRequest, round, type CaseRun } from "./report.js";

export const SERVER_CORE = 0;
export const LOAD_CORE = 1;
/** Requests in the store-counting pass. */
const COUNTING_REQUESTS = 1000;

export interface Environment {
  redisUrl: string;
  redisPrivate: boolean;
  pgUrl: string;
  pgProblem: string | undefined;
  sqlitePath: string;
}

export interface RunOptions {
  duration: number;
  /** Length of a cold case's window (it has no warmup). */
  coldDuration: number;
  warmup: number;
  connections: number;
  /** Sessions for the non-contended cases; undefined = one per connection for writes, one for reads. */
  sessions: number | undefined;
}

/** A case whose server is up, logged in and warm. */
export interface Prepared {
  def: CaseDef;
  server: ServerHandle;
  /** A client of the case's Redis when its store operations are counted there. */
  redis: Redis | undefined;
  redisUrl: string;
  /** The Redis is this run's own (its CPU and MONITOR hold only benchmark traffic). */
  redisPrivate: boolean;
  cookies: string[];
  url: string;
  connections: number;
  close(): Promise<void>;
}

/** One timed run: everything but the store counts, which countStoreOps adds. */
export type TimedRun = Omit<CaseRun, "reads" | "writes" | "detail">;

export interface StoreCounts {
  reads: number | null;
  writes: number | null;
  detail: CommandCounts | null;
}

interface ServerCounts {
  served: number;
  reads: number;
  writes: number;
  byOperation: CommandCounts;
}

async function serverCounts(port: number): Promise<ServerCounts> {
  const response = await fetch(`http://127.0.0.1:${port}/__stats`);
  return (await response.json()) as ServerCounts;
}

/** CPU seconds (user + system) the Redis server has used; only meaningful on a private instance. */
async function redisCpuSeconds(client: Redis): Promise<number> {
  const text = await client.info("cpu");
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return field("used_cpu_user") + field("used_cpu_sys");
}

function sessionsFor(def: CaseDef, options: RunOptions): number {
  if (def.contended) return 1;
  return options.sessions ?? (def.operation === "write" ? options.connections : 1);
}

export async function prepareCase(def: CaseDef, env: Environment, options: RunOptions): Promise<Prepared | { skipped: string }> {
  if (def.backend === "postgres" && env.pgProblem) return { skipped: env.pgProblem };
  if (def.cold && !env.redisPrivate) return { skipped: "a cold start needs redis-server on the PATH (a fresh private instance per run)" };
  // Cold start: a Redis of its own, started now, so its script cache and every pool begin empty.
  const coldRedis = def.cold ? await startPrivateRedis(LOAD_CORE) : undefined;
  if (def.cold && !coldRedis) return { skipped: "could not start a private redis-server" };
  const redisUrl = coldRedis?.url ?? env.redisUrl;
  let server: ServerHandle | undefined;
  let redis: Redis | undefined;
  const close = async (): Promise<void> => {
    await server?.stop();
    redis?.disconnect();
    await coldRedis?.stop();
  };
  try {
    const sessions = sessionsFor(def, options);
    // BENCH_SESSIONS sizes the MemoryStore to hold every session the run logs in.
    const started = await startServer(def.name, { REDIS_URL: redisUrl, PG_URL: env.pgUrl, SQLITE_PATH: env.sqlitePath, BENCH_SESSIONS: String(sessions) }, SERVER_CORE);
    if (started.kind === "skipped") {
      await close();
      return { skipped: started.reason };
    }
    server = started.server;
    redis = def.counting === "redis" ? new Redis(redisUrl) : undefined;
    const cookies: string[] = [];
    for (let i = 0; i < sessions; i++) cookies.push(await login(server.port));
    // The session must be valid before the load: a read returns the logged-in user, a write a count.
    const probe = await get(server.port, "/", cookies[0] ?? "");
    const ok = probe.status === 200 && (def.operation === "read" ? probe.body === "u1" : Number(probe.body) >= 1);
    if (!ok) throw new Error(`${def.name}: sanity request answered ${probe.status} ${JSON.stringify(probe.body.slice(0, 80))}`);
    // The probe's write loaded the compare-and-set script; a cold start begins without it.
    if (def.cold && redis) await redis.script("FLUSH");
    const prepared: Prepared = {
      def,
      server,
      redis,
      redisUrl,
      redisPrivate: env.redisPrivate || coldRedis !== undefined,
      cookies: cookies.filter((cookie) => cookie.length > 0),
      url: `http://127.0.0.1:${server.port}/`,
      connections: options.connections,
      close,
    };
    if (options.warmup > 0 && !def.cold) await warm(prepared, options.warmup);
    return prepared;
  } catch (error) {
    await close();
    throw error;
  }
}

/** Load that is not measured: JIT and pools warm, connections open. */
export async function warm(prepared: Prepared, seconds: number): Promise<void> {
  await runLoadProcess({ url: prepared.url, connections: prepared.connections, duration: seconds, cookies: prepared.cookies }, LOAD_CORE);
}

export async function timedRun(prepared: Prepared, duration: number): Promise<TimedRun> {
  const { redis, server } = prepared;
  const redisBefore = redis ? await commandstats(redis) : undefined;
  const cpuRedis = redis && prepared.redisPrivate ? redis : undefined;
  const redisCpuBefore = cpuRedis ? await redisCpuSeconds(cpuRedis) : undefined;
  const sampler = sampleCpu(server.child.pid ?? -1);
  const load = await runLoadProcess({ url: prepared.url, connections: prepared.connections, duration, cookies: prepared.cookies }, LOAD_CORE);
  const cpu = sampler.stop();
  const redisCpuAfter = cpuRedis ? await redisCpuSeconds(cpuRedis) : undefined;
  const served = Math.max(1, load.completed);
  return {
    load,
    // Commands Redis ran during the timed run, per request (script-internal ones included).
    commandstatsPerRequest: redis && redisBefore ? perRequest(delta(redisBefore, await commandstats(redis)), served) : null,
    serverCpuUs: cpu ? (cpu.seconds * 1e6) / served : null,
    serverCpuPct: cpu && cpu.samplesPct.length > 0 ? round(median(cpu.samplesPct), 1) : null,
    redisCpuUs: redisCpuBefore === undefined || redisCpuAfter === undefined ? null : ((redisCpuAfter - redisCpuBefore) * 1e6) / served,
    sessions: prepared.cookies.length,
  };
}

/**
 * Counting pass: a fixed number of requests, all completed (a timed run ends with requests in flight
 * that the server handles but the generator never counts), same connections and cookies.
 */
export async function countStoreOps(prepared: Prepared): Promise<StoreCounts> {
  const { def, redis, server } = prepared;
  if (def.counting === null) return { reads: null, writes: null, detail: null };
  const passSpec = { url: prepared.url, connections: prepared.connections, duration: 0, amount: COUNTING_REQUESTS, cookies: prepared.cookies };
  const before = await serverCounts(server.port);
  let counted: { reads: number; writes: number; detail: CommandCounts; served: number };
  if (redis) {
    let commands: CommandCounts;
    if (prepared.redisPrivate) {
      // Exact client-sent commands under MONITOR (script-internal commands excluded).
      const monitor = await monitorCount(prepared.redisUrl);
      await runLoadProcess(passSpec, LOAD_CORE);
      commands = await monitor.stop();
    } else {
      // Shared Redis: commandstats deltas (other clients' traffic and script internals included).
      const passBefore = await commandstats(redis);
      await runLoadProcess(passSpec, LOAD_CORE);
      commands = delta(passBefore, await commandstats(redis));
    }
    counted = { ...classify(commands), detail: commands, served: (await serverCounts(server.port)).served - before.served };
    if (!prepared.redisPrivate) {
      // commandstats counts commands, not keys: one MGET of a turn's reads counts once. Only MONITOR
      // on a private Redis tells reads per request, so the 1-read check is not run on a shared one.
      const passServed = Math.max(1, counted.served);
      return { reads: null, writes: null, detail: perRequest(commands, passServed) };
    }
  } else {
    await runLoadProcess(passSpec, LOAD_CORE);
    const after = await serverCounts(server.port);
    const detail: CommandCounts = {};
    for (const [name, calls] of Object.entries(after.byOperation)) {
      const difference = calls - (before.byOperation[name] ?? 0);
      if (difference > 0) detail[name] = difference;
    }
    counted = { reads: after.reads - before.reads, writes: after.writes - before.writes, detail, served: after.served - before.served };
  }
  // Divided by the requests the server answered: a pass of N sends a few more on other connections.
  const passServed = Math.max(1, counted.served);
  return { reads: counted.reads / passServed, writes: counted.writes / passServed, detail: perRequest(counted.detail, passServed) };
}

/** One case from start to stop: a cold case's fresh start, measured from its first request. */
export async function runCase(def: CaseDef, env: Environment, options: RunOptions): Promise<CaseRun | { skipped: string }> {
  const prepared = await prepareCase(def, env, options);
  if ("skipped" in prepared) return prepared;
  try {
    const timed = await timedRun(prepared, def.cold ? options.coldDuration : options.duration);
    return { ...timed, ...(await countStoreOps(prepared)) };
  } finally {
    await prepared.close();
  }
}
