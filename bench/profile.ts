/**
 * `npm run bench -- --profile <case>[,<case>…]`: run a case's server, log in, warm up, then profile
 * only the measured window (V8's sampling profiler, started and stopped in-process through
 * /__profile/*) while wrk loads it. Prints server CPU µs per request by function family and the top
 * self-time functions; the .cpuprofile is kept under bench/results/profiles/ (open it in Chrome
 * DevTools or speedscope).
 *
 * Families: a native with no script (JSON.parse, an HMAC binding…) is charged to the nearest
 * JavaScript caller's family, so "sessionkit session/codec.ts" includes the JSON.parse it calls.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { CASES, findCase } from "./lib/cases.js";
import { BENCH_DIR, ROOT_DIR, get, login, onInterrupt, runLoadProcess, startPrivateRedis, startServer } from "./lib/harness.js";
import { dropPgTables } from "./lib/pg-tables.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** V8's sampling heap profile: a call tree whose nodes carry the bytes sampled there. */
interface HeapNode {
  callFrame: ProfileNode["callFrame"];
  selfSize: number;
  children: HeapNode[];
}

/** The family a script URL belongs to: the library file, the dependency, or the Node subsystem. */
/** A script URL as a path relative to the repository (heap profiles give bare absolute paths). */
function shortPath(url: string): string {
  if (url.startsWith("file://")) return relative(ROOT_DIR, url.slice("file://".length));
  return url.startsWith("/") ? relative(ROOT_DIR, url) : url;
}

function family(url: string): string {
  const path = shortPath(url);
  const src = /^src\/(.+)$/.exec(path);
  if (src) return `sessionkit ${src[1]}`;
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (dependency) {
    const name = dependency[1] as string;
    if (/^(ioredis|@ioredis|redis-parser|denque|cluster-key-slot|standard-as-callback)/.test(name)) return "ioredis (client, parser)";
    if (/^(koa2|koa-compose|koa-convert|http-errors|statuses|on-finished|type-is|content-type|delegates|only|encodeurl|vary|accepts|negotiator|mime|fresh|escape-html|destroy|depd)$/.test(name)) return "koa (framework)";
    if (/^(cookies|keygrip|tsscmp)$/.test(name)) return "cookies/keygrip";
    return name;
  }
  if (path.startsWith("bench/")) return "bench server (routes, counters)";
  if (/^node:(_http|internal\/http)/.test(path)) return "node http (parse, respond)";
  if (/^node:(net|internal\/(stream|streams|net)|stream)/.test(path)) return "node net/streams";
  if (path.startsWith("node:internal/crypto") || path === "node:crypto") return "node crypto (JS side)";
  if (path.startsWith("node:internal/process/task_queues") || path.startsWith("node:internal/timers")) return "node event loop (microtasks, timers)";
  if (path.startsWith("node:")) return "node other";
  return path || "(native, no JS caller)";
}

/**
 * @param survivors count in the allocation table only objects that outlived a young-generation
 *   collection: what gets copied and promoted to the old generation, the garbage that costs most
 *   (how ioredis's auto-pipelining was found holding every Redis batch past its reply)
 */
export async function runProfile(caseNames: string, duration: number, sessionCount?: number, survivors = false, top = 20): Promise<void> {
  const names = caseNames.split(",").map((name) => name.trim()).filter(Boolean);
  // Checked before anything starts: the profiler's /__profile/* routes exist in the Koa servers only.
  const koa = CASES.filter((entry) => ["bare", "koa-session", "sessionkit"].includes(entry.library)).map((entry) => entry.name);
  const refused = names.filter((name) => !koa.includes(name));
  if (names.length === 0 || refused.length > 0) {
    throw new Error(`koa-sessionkit bench: --profile takes Koa cases only (${koa.join(", ")}); got ${refused.join(", ") || "none"}`);
  }
  for (const caseName of names) {
    const forget = findCase(caseName)?.backend === "postgres" ? onInterrupt(dropPgTables) : undefined;
    try {
      await profileOne(caseName, duration, top, sessionCount, survivors);
    } finally {
      if (forget) {
        forget();
        await dropPgTables();
      }
    }
  }
}

async function profileOne(caseName: string, duration: number, top: number, sessionCount: number | undefined, survivors: boolean): Promise<void> {
  const dir = join(BENCH_DIR, "results", "profiles");
  mkdirSync(dir, { recursive: true });
  const redis = caseName.includes("redis") ? await startPrivateRedis() : undefined;
  // Never the shared Redis: the sessions the profile logs in would stay there for a day.
  if (caseName.includes("redis") && !redis) throw new Error(`koa-sessionkit bench: --profile ${caseName} needs redis-server on the PATH (a private instance)`);
  let profile: CpuProfile;
  let heap: { head: HeapNode };
  let completed: number;
  try {
    const connections = 50;
    // Like bench/run.ts: one session per connection for a write, one for a read (contended: one).
    // --sessions N: N logins sent round-robin (past the verified/opened-cookie caches when large).
    const sessions = sessionCount ?? (caseName.includes("write") && !caseName.includes("contended") ? connections : 1);
    const env = { ...(redis ? { REDIS_URL: redis.url } : {}), BENCH_PROFILE: survivors ? "survivors" : "1", BENCH_SESSIONS: String(sessions) };
    const started = await startServer(caseName, env, 0);
    if (started.kind === "skipped") throw new Error(`${caseName}: ${started.reason}`);
    const { server } = started;
    try {
      const cookies: string[] = [];
      for (let i = 0; i < sessions; i++) cookies.push(await login(server.port));
      await get(server.port, "/", cookies[0] ?? "");
      const url = `http://127.0.0.1:${server.port}/`;
      const spec = { url, connections, cookies: cookies.filter(Boolean) };
      await runLoadProcess({ ...spec, duration: 2 }, 1);
      await get(server.port, "/__profile/start", "");
      const load = await runLoadProcess({ ...spec, duration }, 1);
      ({ cpu: profile, heap } = JSON.parse((await get(server.port, "/__profile/stop", "")).body) as { cpu: CpuProfile; heap: { head: HeapNode } });
      completed = load.completed;
      console.error(`${caseName}: ${load.reqPerSec.toFixed(0)} req/s under the profiler`);
    } finally {
      await server.stop();
    }
  } finally {
    await redis?.stop();
  }
  const file = join(dir, `${caseName}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  writeFileSync(file.replace(/\.cpuprofile$/, ".heapprofile"), JSON.stringify(heap));

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, index) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));

  const PROFILER = "(profiler)";
  const SPECIAL = new Set(["(idle)", "(garbage collector)", "(program)", "(root)"]);
  const familyOf = (node: ProfileNode): string => {
    if (SPECIAL.has(node.callFrame.functionName)) return node.callFrame.functionName;
    // Stopping the profiler (serializing the profile) runs inside the window: not request work.
    for (let up: ProfileNode | undefined = node; up; up = byId.get(parent.get(up.id) ?? -1)) {
      if (up.callFrame.url === "node:inspector") return PROFILER;
    }
    let current: ProfileNode | undefined = node;
    while (current && !current.callFrame.url) current = byId.get(parent.get(current.id) ?? -1);
    return family(current?.callFrame.url ?? "");
  };
  const byFamily = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const time = selfTime.get(node.id) ?? 0;
    if (time === 0 || node.callFrame.functionName === "(idle)") continue;
    const name = familyOf(node);
    if (name === PROFILER) continue;
    busy += time;
    byFamily.set(name, (byFamily.get(name) ?? 0) + time);
    const { functionName, url, lineNumber } = node.callFrame;
    const where = shortPath(url);
    const key = `${functionName || "(anonymous)"} ${where ? `${where}:${lineNumber + 1}` : ""}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
  }
  const requests = Math.max(1, completed);
  console.log(`\n### ${caseName}\n`);
  console.log(`profile: ${relative(ROOT_DIR, file)}; ${requests} requests; busy ${(busy / requests).toFixed(1)} µs per request (JS thread)`);
  printTable("| family | µs/req | % of busy |", byFamily, { requests, total: busy, digits: 2, minShare: 0.005 });
  printTable("| top self time | µs/req | % of busy |", byFunction, { requests, total: busy, digits: 2, top });
  printAllocations(heap.head, requests, top, survivors);
}

/** Bytes allocated per request by family and by function (natives charged to their JS caller). */
function printAllocations(head: HeapNode, requests: number, top: number, survivors: boolean): void {
  const byFamily = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode, caller: string): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    if (url === "node:inspector") return; // the profiler's own stop
    const name = url ? family(url) : caller;
    if (node.selfSize > 0) {
      total += node.selfSize;
      byFamily.set(name, (byFamily.get(name) ?? 0) + node.selfSize);
      const where = shortPath(url);
      const key = `${functionName || "(anonymous)"} ${where ? `${where}:${lineNumber + 1}` : `(native, from ${name})`}`.trim();
      byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, name);
  };
  walk(head, "(native, no JS caller)");
  const which = survivors ? "that outlived a young-generation collection" : "sampled, collected objects included";
  console.log(`\nallocated ${(total / requests).toFixed(0)} bytes per request (${which})`);
  printTable("| family | bytes/req | % |", byFamily, { requests, total, digits: 0, minShare: 0.01 });
  printTable("| top allocating function | bytes/req | % |", byFunction, { requests, total, digits: 0, top });
}

/** One Markdown table: per-request amounts, largest first, with their share of `total`. */
function printTable(header: string, amounts: Map<string, number>, options: { requests: number; total: number; digits: number; minShare?: number; top?: number }): void {
  console.log(`\n${header}`);
  console.log("|---|---:|---:|");
  const rows = [...amounts.entries()].sort((a, b) => b[1] - a[1]).filter(([, amount]) => amount / options.total >= (options.minShare ?? 0));
  for (const [name, amount] of rows.slice(0, options.top ?? rows.length)) {
    console.log(`| ${name} | ${(amount / options.requests).toFixed(options.digits)} | ${((100 * amount) / options.total).toFixed(1)} |`);
  }
}
