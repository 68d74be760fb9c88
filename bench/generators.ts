/**
 * `npm run bench -- --generators`: which load generator saturates the server? koa-bare pinned to
 * core 0, each generator pinned to core 1, alternated for `rounds`; prints req/s and the server's CPU
 * share (median of 500 ms samples from /proc) and the generator's own CPU per request. A generator
 * that leaves the server idle measures itself; `npm run bench` uses wrk, which needs about 60 % of the
 * CPU per request that autocannon does (workers add threads, not efficiency, on one core).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { reapedChildrenCpuSeconds, sampleCpu } from "./lib/cpu.js";
import { ROOT_DIR, median, startServer, track } from "./lib/harness.js";
import { LOAD_CORE, SERVER_CORE } from "./lib/measure.js";
import { runWrk } from "./lib/wrk.js";

interface Rate {
  reqPerSec: number;
  requests: number;
}

async function autocannon(url: string, duration: number, workers: number): Promise<Rate> {
  const bin = join(ROOT_DIR, "node_modules/autocannon/autocannon.js");
  const args = ["-c", "50", "-d", String(duration), "--json", ...(workers > 0 ? ["-w", String(workers)] : []), url];
  const child = spawn("taskset", ["-c", String(LOAD_CORE), process.execPath, bin, ...args], { stdio: ["ignore", "pipe", "ignore"] });
  track(child);
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.once("exit", resolve));
  const result = JSON.parse(out.trim().split("\n").pop() ?? "{}") as { requests?: { total?: number }; duration?: number };
  const requests = result.requests?.total ?? 0;
  return { reqPerSec: requests / (result.duration ?? duration), requests };
}

export async function runGenerators(duration: number, rounds: number): Promise<void> {
  const started = await startServer("koa-bare", {}, SERVER_CORE);
  if (started.kind !== "ready") throw new Error("koa-bare did not start");
  const { server } = started;
  const url = `http://127.0.0.1:${server.port}/`;
  const generators: [string, () => Promise<Rate>][] = [
    [
      "wrk -t1 -c50",
      async () => {
        const result = await runWrk({ url, connections: 50, duration, cookies: [] }, ["taskset", "-c", String(LOAD_CORE)], track);
        return { reqPerSec: result.reqPerSec, requests: result.completed };
      },
    ],
    ["autocannon -c50", () => autocannon(url, duration, 0)],
    ["autocannon -c50 -w2 (workers)", () => autocannon(url, duration, 2)],
  ];
  const results = new Map<string, { rate: number[]; cpu: number[]; generatorUs: number[] }>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of generators) {
        const sampler = sampleCpu(server.child.pid ?? -1);
        const generatorBefore = reapedChildrenCpuSeconds() ?? Number.NaN;
        const rate = await run();
        const generatorSeconds = (reapedChildrenCpuSeconds() ?? Number.NaN) - generatorBefore;
        const cpu = sampler.stop();
        const entry = results.get(name) ?? { rate: [], cpu: [], generatorUs: [] };
        entry.rate.push(rate.reqPerSec);
        entry.cpu.push(cpu ? median(cpu.samplesPct) : Number.NaN);
        entry.generatorUs.push((generatorSeconds * 1e6) / Math.max(1, rate.requests));
        results.set(name, entry);
      }
    }
  } finally {
    await server.stop();
  }
  // The generator's own CPU per request caps what it can drive from one core (1e6 / µs req/s),
  // whatever else runs on the machine: it must stay well below the server's µs per request.
  console.log("| generator (core 1) | koa-bare req/s | server CPU % (core 0) | generator CPU µs/req |");
  console.log("|---|---:|---:|---:|");
  for (const [name, entry] of results) {
    console.log(`| ${name} | ${median(entry.rate).toFixed(0)} | ${median(entry.cpu).toFixed(0)} | ${median(entry.generatorUs).toFixed(1)} |`);
  }
}
