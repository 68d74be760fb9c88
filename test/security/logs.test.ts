/**
 * No session id, cookie value (session cookie or .sig), CSRF token or password in the logs, with
 * every log turned up: the package's debug logging (NODE_DEBUG=koa-sessionkit*) and the reference
 * app's pino logger at LOG_LEVEL=debug. util.debuglog reads NODE_DEBUG when a logger is first used,
 * so the app runs in a child process (fixtures/log-scenario.ts) whose stdout and stderr are captured.
 * The scenario covers login (form + CSRF, and JSON), wrong logins, a password change, logout, a dead
 * cookie, malformed cookies and a store failure (503). It also checks that session ids travel only
 * in Set-Cookie: never in a URL, a Location header or a response body.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCENARIO = fileURLToPath(new URL("./fixtures/log-scenario.ts", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  secrets: string[];
  sessionValues: string[];
  /** Every request line with its Location header, and every response body. */
  exposed: string[];
}

let run: Run;
let workDir = "";

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "sk-logs-test-"));
  const secretsFile = path.join(workDir, "secrets.json");
  const child = spawn(process.execPath, ["--import", "tsx", SCENARIO], {
    cwd: ROOT,
    env: { ...process.env, NODE_DEBUG: "koa-sessionkit*", LOG_LEVEL: "debug", SECRETS_FILE: secretsFile, NODE_ENV: "test" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const seen: Pick<Run, "secrets" | "sessionValues" | "exposed"> =
    code === 0 ? (JSON.parse(await readFile(secretsFile, "utf8")) as Pick<Run, "secrets" | "sessionValues" | "exposed">) : { secrets: [], sessionValues: [], exposed: [] };
  run = { code, stdout, stderr, ...seen };
}, 60_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Every spelling of a secret worth searching for: as is, URL-encoded, and its first 16 characters. */
function spellings(secret: string): string[] {
  const out = new Set([secret, encodeURIComponent(secret)]);
  if (secret.length > 20) out.add(secret.slice(0, 16));
  return [...out];
}

describe("logs with NODE_DEBUG=koa-sessionkit* and LOG_LEVEL=debug", () => {
  it("the scenario ran to the end, and the logs are really on", () => {
    expect(run.code, run.stderr).toBe(0);
    // The package's debug output (util.debuglog writes "SECTION PID: message" to stderr).
    expect(run.stderr).toMatch(/KOA-SESSIONKIT:SESSION \d+: /);
    // The app's request log, including the store failure's 503 at error level.
    expect(run.stdout).toMatch(/"msg":"request"/);
    expect(run.stdout).toMatch(/"level":50,[^\n]*"status":503/);
    expect(run.stdout).toMatch(/"path":"\/login","status":401/);
  });

  it("saw the secrets it searches for: session ids, .sig values, CSRF tokens and passwords", () => {
    // 3 passwords, the CSRF token and its sealed secret cookie, 2 malformed-cookie markers, and several
    // ids with their signatures (the login page issues no session: its CSRF secret is a sealed cookie).
    expect(run.secrets.length).toBeGreaterThanOrEqual(13);
    // Ids and signatures (43 characters) of the form login, the password change and the JSON login after it.
    expect(run.secrets.filter((secret) => /^[A-Za-z0-9_-]{43}$/.test(secret)).length).toBeGreaterThanOrEqual(6);
  });

  it("no session id, cookie value, CSRF token or password appears in stdout or stderr", () => {
    const output = `${run.stdout}\n${run.stderr}`;
    const leaks = run.secrets.flatMap((secret) => spellings(secret).filter((spelling) => output.includes(spelling)));
    expect(leaks).toEqual([]);
  });

  it("session ids and .sig values appear in no URL, Location header or response body", () => {
    // The session cookies' ids and signatures, and the login page's sealed CSRF cookie.
    expect(run.sessionValues.length).toBeGreaterThanOrEqual(7);
    expect(run.exposed.length).toBeGreaterThan(20);
    const leaks = run.sessionValues.filter((value) => run.exposed.some((text) => text.includes(value) || text.includes(encodeURIComponent(value))));
    expect(leaks).toEqual([]);
  });
});
