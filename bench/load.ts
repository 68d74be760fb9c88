/**
 * Fixed-size request passes (the store-counting pass after each timed run), run as their own process
 * pinned to the load core: `node --import tsx bench/load.ts '<json LoadSpec>'` (or `-` and the JSON on
 * stdin, as the harness sends it) prints one JSON LoadResult line. autocannon stops after exactly `amount` requests, which wrk cannot; it is never
 * used for timed runs (bench/lib/wrk.ts), where it was the bottleneck.
 */
import { createRequire } from "node:module";
import type { LoadResult, LoadSpec } from "./lib/wrk.js";

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
}

interface AutocannonOptions {
  url: string;
  connections: number;
  amount: number;
  headers?: Record<string, string>;
  requests?: { setupRequest: (request: AutocannonRequest) => AutocannonRequest }[];
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}

type Autocannon = (options: AutocannonOptions) => Promise<AutocannonResult>;

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;
  if (spec.amount === undefined) throw new Error("bench/load.ts sends fixed-size passes only; timed runs use wrk (bench/lib/wrk.ts)");
  const options: AutocannonOptions = { url: spec.url, connections: spec.connections, amount: spec.amount };
  if (spec.cookies.length === 1) {
    options.headers = { cookie: spec.cookies[0] as string };
  } else if (spec.cookies.length > 1) {
    let next = 0;
    options.requests = [
      {
        setupRequest: (request) => {
          const cookie = spec.cookies[next++ % spec.cookies.length] as string;
          return { ...request, headers: { ...request.headers, cookie } };
        },
      },
    ];
  }
  const result = await autocannon(options);
  const completed = result.requests.total;
  return {
    // Requests per second over the whole run (autocannon's `average` is the mean of per-second samples).
    reqPerSec: result.duration > 0 ? completed / result.duration : result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    completed,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
  };
}

/** The spec: the argument, or stdin when the argument is "-" (the harness's way: no length limit). */
async function readSpec(argument: string | undefined): Promise<LoadSpec> {
  if (argument !== "-") return JSON.parse(argument ?? "{}") as LoadSpec;
  let text = "";
  for await (const chunk of process.stdin) text += String(chunk);
  return JSON.parse(text) as LoadSpec;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() ?? "\0")) {
  readSpec(process.argv[2]).then(runLoad).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
