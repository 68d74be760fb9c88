/**
 * `npm run bench -- --profile <case>`: run one case's server under `node --cpu-prof`, load it for a
 * while, and print the top self-time functions (the .cpuprofile is kept under bench/results/).
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { BENCH_DIR, ROOT_DIR, get, login, runLoadProcess, startPrivateRedis, startServer } from "./lib/harness.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export async function runProfile(caseName: string, duration: number, top = 25): Promise<void> {
  const dir = join(BENCH_DIR, "results", "profiles");
  mkdirSync(dir, { recursive: true });
  const redis = caseName.includes("redis") ? await startPrivateRedis() : undefined;
  const before = new Set(readdirSync(dir));
  try {
    const started = await startServer(caseName, redis ? { REDIS_URL: redis.url } : {}, 0, ["--cpu-prof", "--cpu-prof-dir", dir]);
    if (started.kind === "skipped") throw new Error(`${caseName}: ${started.reason}`);
    const { server } = started;
    try {
      const cookie = await login(server.port);
      await get(server.port, "/", cookie);
      const url = `http://127.0.0.1:${server.port}/`;
      const load = await runLoadProcess({ url, connections: 50, duration, cookies: cookie ? [cookie] : [] }, 1);
      console.error(`${caseName}: ${load.reqPerSec.toFixed(0)} req/s under the profiler`);
    } finally {
      await server.stop();
    }
  } finally {
    await redis?.stop();
  }
  // Thread 0 is the main thread (tsx's loader runs in a worker and writes its own profile).
  const file = readdirSync(dir).find((name) => /\.0\.\d+\.cpuprofile$/.test(name) && !before.has(name));
  if (!file) throw new Error("no .cpuprofile was written");
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  const byNode = new Map<number, number>();
  profile.samples.forEach((id, index) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const byFunction = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const time = byNode.get(node.id) ?? 0;
    total += time;
    if (node.callFrame.functionName === "(idle)") idle += time;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.startsWith("file://") ? relative(ROOT_DIR, url.slice("file://".length)) : url;
    const key = `${functionName || "(anonymous)"} ${where ? `${where}:${lineNumber + 1}` : ""}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
  }
  byFunction.delete("(idle)");
  const busy = total - idle;
  const rows = [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  console.log(`profile: bench/results/profiles/${file}; idle ${((100 * idle) / total).toFixed(1)}% of ${(total / 1e6).toFixed(1)} s`);
  console.log("| % of busy time | self ms | function |");
  console.log("|---:|---:|---|");
  for (const [name, time] of rows) console.log(`| ${((100 * time) / busy).toFixed(1)} | ${(time / 1000).toFixed(0)} | ${name} |`);
}
