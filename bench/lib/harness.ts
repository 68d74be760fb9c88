/**
 * Process plumbing for the harness: servers and load generators as pinned child processes, a private
 * Redis for exact command counts, login, and cleanup of every child on exit or SIGINT.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { runWrk, type LoadResult, type LoadSpec } from "./wrk.js";

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT_DIR = join(BENCH_DIR, "..");

const children = new Set<ChildProcess>();
let cleanupHooks: (() => void)[] = [];

/** Synchronous last-resort cleanup: kill every child we started (by its own pid) and run hooks. */
function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  }
  for (const hook of cleanupHooks) hook();
  cleanupHooks = [];
}

const interruptHooks = new Set<() => Promise<unknown>>();

process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll();
    // Asynchronous clean-up a normal end would have done (dropping the PostgreSQL tables), at most 5 s.
    const hooks = [...interruptHooks].map((hook) => hook().catch(() => undefined));
    void Promise.race([Promise.all(hooks), new Promise((resolve) => setTimeout(resolve, 5000))]).finally(() => process.exit(130));
  });
}

export function onExit(hook: () => void): void {
  cleanupHooks.push(hook);
}

/** Run `hook` if the run is interrupted (SIGINT, SIGTERM) before it removes it with the returned function. */
export function onInterrupt(hook: () => Promise<unknown>): () => void {
  interruptHooks.add(hook);
  return () => interruptHooks.delete(hook);
}

export const HAS_TASKSET = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

/** `taskset -c <core>` prefix where taskset exists and pinning is on. */
function pinned(core: number | null, command: string[]): string[] {
  return HAS_TASKSET && core !== null ? ["taskset", "-c", String(core), ...command] : command;
}

function splitCommand(command: string[]): [string, string[]] {
  return [command[0] as string, command.slice(1)];
}

/** Kill `child` with the harness (on exit, SIGINT or SIGTERM). */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export interface ServerHandle {
  port: number;
  child: ChildProcess;
  memory: { sessions: number; heapDeltaBytes: number; bytesPerSession: number } | null;
  stop(): Promise<void>;
}

export type ServerStart = { kind: "ready"; server: ServerHandle } | { kind: "skipped"; reason: string };

export async function startServer(caseName: string, env: Record<string, string>, core: number | null, nodeFlags: string[] = []): Promise<ServerStart> {
  const command = pinned(core, [process.execPath, "--import", "tsx", ...nodeFlags, join(BENCH_DIR, "servers/server.ts"), caseName]);
  const child = track(
    spawn(command[0] as string, command.slice(1), {
      cwd: ROOT_DIR,
      env: { ...process.env, ...env, PORT: "0", NODE_ENV: "production" },
      stdio: ["pipe", "pipe", "pipe"],
    }),
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const first = await new Promise<Record<string, unknown>>((resolve) => {
    const timer = setTimeout(() => resolve({ error: `server ${caseName} did not start in 60 s` }), 60_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        resolve({ error: `unexpected output: ${line}` });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ error: `server ${caseName} exited with ${String(code)}: ${stderr}` });
    });
  });
  if (typeof first.skipped === "string") {
    await stop();
    return { kind: "skipped", reason: first.skipped };
  }
  if (first.ready !== true) {
    await stop();
    throw new Error(String(first.error ?? JSON.stringify(first)));
  }
  const memory = (first.memory ?? null) as ServerHandle["memory"];
  return { kind: "ready", server: { port: Number(first.port), child, memory, stop } };
}

/** Load on `core`: a timed run with wrk, a fixed-size pass (`amount`) with bench/load.ts; resolves its summary. */
export async function runLoadProcess(spec: LoadSpec, core: number | null): Promise<LoadResult> {
  if (spec.amount === undefined) return runWrk(spec, pinned(core, []), track);
  // The spec goes through stdin: with --sessions 12000 its cookies pass the kernel's limit on a
  // command line (spawn E2BIG).
  const command = pinned(core, [process.execPath, "--import", "tsx", join(BENCH_DIR, "load.ts"), "-"]);
  const child = track(spawn(command[0] as string, command.slice(1), { cwd: ROOT_DIR, stdio: ["pipe", "pipe", "pipe"] }));
  child.stdin?.end(JSON.stringify(spec));
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`load generator failed (${String(code)}): ${err.slice(-2000)}`);
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as LoadResult;
}

/** POST /login once; returns the Cookie header that carries the new session ("" when none was set). */
export async function login(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/login`, { method: "POST" });
  await response.text();
  if (!response.ok) throw new Error(`/login answered ${response.status}`);
  return response.headers
    .getSetCookie()
    .map((line) => line.split(";")[0] ?? "")
    // Drop cookies being cleared (empty value); keep values that end in "=" (base64 padding).
    .filter((pair) => pair.indexOf("=") > 0 && pair.indexOf("=") < pair.length - 1)
    .join("; ");
}

export async function get(port: number, path: string, cookie: string): Promise<{ status: number; body: string; setCookie: number }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: cookie ? { cookie } : {} });
  return { status: response.status, body: await response.text(), setCookie: response.headers.getSetCookie().length };
}

/** A Redis of our own on a free port, so command counts hold only the benchmark's traffic. */
export async function startPrivateRedis(core: number | null = 1): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  if (spawnSync("redis-server", ["--version"]).status !== 0) return undefined;
  const port = await freePort();
  const child = track(
    // On the load generator's core: the server's core then measures the server alone.
    spawn(...splitCommand(pinned(core, ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"])), {
      stdio: ["ignore", "ignore", "pipe"],
    }),
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let attempt = 0; attempt < 50; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    });
    if (up) {
      return {
        url: `redis://127.0.0.1:${port}`,
        stop: async () => {
          if (child.exitCode === null) child.kill("SIGTERM");
          await exited;
        },
      };
    }
    if (child.exitCode !== null) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGTERM");
  return undefined;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
