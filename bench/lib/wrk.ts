/**
 * Timed load with wrk (C, epoll; Debian package `wrk`). Measured side by side on this machine, one
 * wrk thread keeps a pinned bare Koa server busy where autocannon (Node) on the same core could not:
 * the generator must never be the bottleneck, or every ratio near the ceiling is compressed.
 *
 * The request, its cookies and the JSON summary are a Lua script written to a temp file; several
 * cookies (one per logged-in session) are sent round-robin, one per request.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const HAS_WRK = spawnSync("wrk", ["-v"]).error === undefined;

export interface LoadSpec {
  url: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration: number;
  /** Fixed number of requests (counting passes; sent by bench/load.ts, not wrk). */
  amount?: number;
  /** One Cookie header per session; several are used round-robin, one per request. */
  cookies: string[];
}

export interface LoadResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationS: number;
}

/** A Lua string literal: cookies are ASCII, and JSON's escapes for it (\" \\) are Lua's too. */
const lua = (text: string): string => JSON.stringify(text);

function script(cookies: string[]): string {
  const lines = [`local cookies = { ${cookies.map(lua).join(", ")} }`];
  if (cookies.length === 1) {
    // One cookie: wrk formats the request once and resends the same bytes (no Lua per request).
    lines.push(`wrk.headers["Cookie"] = cookies[1]`);
  } else if (cookies.length > 1) {
    lines.push(
      "local i = 0",
      "request = function()",
      "  i = i + 1",
      "  return wrk.format(nil, nil, { Cookie = cookies[(i % #cookies) + 1] })",
      "end",
    );
  }
  lines.push(
    "done = function(summary, latency, requests)",
    "  local e = summary.errors",
    `  io.write(string.format('WRK_JSON {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d}\\n',`,
    "    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))",
    "end",
  );
  return `${lines.join("\n")}\n`;
}

interface WrkSummary {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
}

/**
 * Runs wrk (one thread) with `prefix` (e.g. taskset) in front; resolves its summary. `track` hands
 * the child to the harness, which kills it on SIGINT; the script's temp dir goes on exit too.
 */
export async function runWrk(spec: LoadSpec, prefix: string[], track: (child: ChildProcess) => unknown = () => undefined): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "skbench-wrk-"));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeDir);
  try {
    const file = join(dir, "load.lua");
    writeFileSync(file, script(spec.cookies));
    const args = ["-t1", `-c${spec.connections}`, `-d${Math.max(1, Math.round(spec.duration))}s`, "--timeout", "10s", "-s", file, spec.url];
    const command = [...prefix, "wrk", ...args];
    const child = spawn(command[0] as string, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    track(child);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    const line = out.split("\n").find((entry) => entry.startsWith("WRK_JSON "));
    if (code !== 0 || !line) throw new Error(`wrk failed (${String(code)}): ${out.slice(-2000)}`);
    const summary = JSON.parse(line.slice("WRK_JSON ".length)) as WrkSummary;
    const durationS = summary.durationUs / 1e6;
    return {
      reqPerSec: durationS > 0 ? summary.requests / durationS : 0,
      p50Ms: summary.p50Us / 1000,
      p99Ms: summary.p99Us / 1000,
      completed: summary.requests,
      non2xx: summary.status,
      errors: summary.connect + summary.read + summary.write,
      timeouts: summary.timeout,
      durationS,
    };
  } finally {
    process.off("exit", removeDir);
    removeDir();
  }
}
