/**
 * `npm run bench -- --generators`: which load generator saturates the server? koa-bare pinned to
 * core 0, each generator pinned to core 1, alternated for `rounds`; prints req/s and the server's CPU
 * share (median of 500 ms samples from /proc). A generator that leaves the server idle measures
 * itself; `npm run bench` uses wrk because it is the one that keeps the server busy here.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { sampleCpu } from "./lib/cpu.js";
import { ROOT_DIR, median, startServer } from "./lib/harness.js";
import { LOAD_CORE, SERVER_CORE } from "./lib/measure.js";
import { runWrk } from "./lib/wrk.js";

async function autocannon(url: string, duration: number, workers: number): Promise<number> {
  const bin = join(ROOT_DIR, "node_modules/autocannon/autocannon.js");
  const args = ["-c", "50", "-d", String(duration), "--json", ...(workers > 0 ? ["-w", String(workers)] : []), url];
  const child = spawn("taskset", ["-c", String(LOAD_CORE), process.execPath, bin, ...args], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.once("exit", resolve));
  const result = JSON.parse(out.trim().split("\n").pop() ?? "{}") as { requests?: { total?: number }; duration?: number };
  return (result.requests?.total ?? 0) / (result.duration ?? duration);
}

export async function runGenerators(duration: number, rounds: number): Promise<void> {
  const started = await startServer("koa-bare", {}, SERVER_CORE);
  if (started.kind !== "ready") throw new Error("koa-bare did not start");
  const { server } = started;
  const url = `http://127.0.0.1:${server.port}/`;
  const generators: [string, () => Promise<number>][] = [
    ["wrk -t1 -c50", async () => (await runWrk({ url, connections: 50, duration, cookies: [] }, ["taskset", "-c", String(LOAD_CORE)])).reqPerSec],
    ["autocannon -c50", () => autocannon(url, duration, 0)],
    ["autocannon -c50 -w2 (workers)", () => autocannon(url, duration, 2)],
  ];
  const results = new Map<string, { rate: number[]; cpu: number[] }>();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of generators) {
        const sampler = sampleCpu(server.child.pid ?? -1);
        const rate = await run();
        const cpu = sampler.stop();
        const entry = results.get(name) ?? { rate: [], cpu: [] };
        entry.rate.push(rate);
        entry.cpu.push(cpu ? median(cpu.samplesPct) : Number.NaN);
        results.set(name, entry);
      }
    }
  } finally {
    await server.stop();
  }
  console.log("| generator (core 1) | koa-bare req/s | server CPU % (core 0) |");
  console.log("|---|---:|---:|");
  for (const [name, entry] of results) console.log(`| ${name} | ${median(entry.rate).toFixed(0)} | ${median(entry.cpu).toFixed(0)} |`);
}
