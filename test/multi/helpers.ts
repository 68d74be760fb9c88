/**
 * Run the reference app as real processes (`node --import tsx app/server.ts`) and its user:add CLI
 * (not a test file itself).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { baseEnv, ROOT, run } from "../app/process.js";

export interface AppProcess {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:40123 (no trailing slash) */
  url: string;
  output(): { stdout: string; stderr: string };
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  stop(): Promise<void>;
}

/** Start app/server.ts on a free port (PORT=0) and resolve once it prints "Listening on …". */
export function startAppProcess(env: Record<string, string>, timeoutMs = 20_000): Promise<AppProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "app/server.ts"], {
      cwd: ROOT,
      env: baseEnv({ PORT: "0", HOST: "127.0.0.1", ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let exited = child.exitCode !== null;
    const gone = new Promise<void>((done) =>
      child.once("exit", () => {
        exited = true;
        done();
      }),
    );
    const stop = async () => {
      if (exited) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await gone;
      clearTimeout(timer);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`app did not start in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /Listening on (http:\/\/\S+)/.exec(stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1].replace(/\/$/, ""), output: () => ({ stdout, stderr }), stop });
      }
    });
    void gone.then(() => {
      clearTimeout(timer);
      reject(new Error(`app exited before listening (code ${child.exitCode}); stderr: ${stderr}`));
    });
  });
}

/** `npm run user:add` equivalent with the given environment; rejects unless it exits 0. */
export async function addUserCli(env: Record<string, string>, email: string, password: string): Promise<string> {
  const outcome = await run("app/cli/user-add.ts", ["--email", email, "--password", password], env, 20_000);
  const output = outcome.stdout + outcome.stderr;
  if (outcome.code !== 0) throw new Error(`user:add exited ${outcome.code}: ${output}`);
  return output;
}

/** The Cookie header replaying the non-empty cookies a response set. */
export function cookieFrom(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((line) => line.split(";")[0] ?? "")
    .filter((pair) => pair.includes("=") && !pair.endsWith("="))
    .join("; ");
}

/** A JSON API request (no Origin, no form body: the API path, not the HTML one). */
export function api(base: string, method: string, pathname: string, cookie?: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (cookie) headers.Cookie = cookie;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(`${base}${pathname}`, {
    method,
    headers,
    redirect: "manual",
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}
