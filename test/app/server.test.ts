/** The app as a process: configuration errors, `npm start` smoke with graceful SIGTERM, and user:add. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../app/app.js";
import { parseConfig } from "../../app/config.js";
import { TEST_KEY } from "./helpers.js";
import { baseEnv, ROOT, run, type Outcome } from "./process.js";

/**
 * Start the server on a free port (PORT=0) and resolve its URL once it listens. `viaNpm` runs
 * `npm start` as a user does, so signals go to npm's process, which must hand them on (a chain
 * npm → sh → tsx → node once dropped SIGTERM at sh and left the server running).
 */
function startServer(env: Record<string, string>, viaNpm = false): Promise<{ child: ChildProcess; url: string; output: () => Outcome; exited: Promise<Outcome> }> {
  return new Promise((resolve, reject) => {
    const [command, args] = viaNpm ? ["npm", ["start", "--silent"]] : [process.execPath, ["--import", "tsx", "app/server.ts"]];
    const child = spawn(command, args, { cwd: ROOT, env: baseEnv({ PORT: "0", ...env }) });
    const result: Outcome = { code: null, signal: null, stdout: "", stderr: "" };
    const exited = new Promise<Outcome>((done) => {
      child.on("exit", (code, signal) => {
        result.code = code;
        result.signal = signal;
        done(result);
      });
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not start; stderr: ${result.stderr}`));
    }, 15_000);
    child.stderr.on("data", (chunk: Buffer) => (result.stderr += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      result.stdout += chunk.toString();
      const match = /Listening on (http:\/\/\S+)/.exec(result.stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1].replace(/\/$/, ""), output: () => result, exited });
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited early (${result.code}); stderr: ${result.stderr}`));
    });
  });
}

describe("reference app process", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "sk-app-proc-"));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it.each([
    ["an unknown SESSION_STORE", { SESSION_STORE: "mongo" }, /SESSION_STORE must be one of/],
    ["a short session key", { SESSION_KEYS: "short-key" }, /SESSION_KEYS key 1 of 1 is 9 bytes/],
    ["one short key among good ones", { SESSION_KEYS: `${TEST_KEY},tiny` }, /key 2 of 2/],
    ["redis without REDIS_URL", { SESSION_STORE: "redis" }, /REDIS_URL/],
    ["a bad PORT", { PORT: "http" }, /PORT must be/],
    ["production without SESSION_KEYS", { NODE_ENV: "production" }, /SESSION_KEYS is required when NODE_ENV=production/],
    [
      "an unreachable DATABASE_URL",
      // Port 1 on loopback: nothing listens, so the connection is refused at once.
      { DATABASE_URL: "postgres://postgres@127.0.0.1:1/test", SESSION_KEYS: TEST_KEY },
      /^koa-sessionkit app: could not start: the user database could not be reached \(.*ECONNREFUSED.*\); check that DATABASE_URL's server .* then start again$/,
    ],
  ])("refuses %s: exit code 1, one line on stderr, no stack trace", async (_name, env, message) => {
    const outcome = await run("app/server.ts", [], { DATA_DIR: dataDir, ...env });
    expect(outcome.code).toBe(1);
    const lines = outcome.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(outcome.stderr).not.toMatch(/\n\s+at /);
    expect(outcome.stderr).not.toContain("short-key");
  });

  it("starts (npm start), prints the demo user once, serves /login, and exits 0 on SIGTERM", async () => {
    const first = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: "info" }, true);
    const page = await request(first.url).get("/login");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    const demo = /Demo user: (\S+) \/ (\S+)/.exec(first.output().stdout);
    expect(demo?.[1]).toBe("demo@example.com");
    expect(first.output().stderr).toMatch(/generated session keys into .*keys/);
    expect((await stat(path.join(dataDir, "keys"))).mode & 0o777).toBe(0o600);

    const login = await request(first.url).post("/login").send({ email: demo?.[1], password: demo?.[2] });
    expect(login.status).toBe(200);
    first.child.kill("SIGTERM");
    const done = await first.exited;
    expect(done.code).toBe(0);
    // One log line per request, and none carries a cookie, a session id or the password.
    expect(done.stdout.split(demo?.[2] ?? "§")).toHaveLength(2);
    const requests = done.stdout
      .split("\n")
      .filter((line) => line.includes('"msg":"request"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(requests.map((line) => `${line.method} ${line.path} ${line.status}`)).toEqual(["GET /login 200", "POST /login 200"]);
    expect(typeof requests[0]?.ms).toBe("number");
    const sessionValue = /sessionkit\.sid=([^;]+)/.exec(String(login.headers["set-cookie"]))?.[1] ?? "§";
    expect(done.stdout).not.toContain(sessionValue);
    expect(done.stdout).not.toContain("sessionkit.sid");

    // Second start: same keys, sessions survive (SQLite), no new demo user.
    const second = await startServer({ DATA_DIR: dataDir }, true);
    const cookie = (login.headers["set-cookie"] as unknown as string[]).map((line) => line.split(";")[0]).join("; ");
    const dashboard = await request(second.url).get("/dashboard").set("Accept", "application/json").set("Cookie", cookie);
    expect(dashboard.status).toBe(200);
    expect(second.output().stdout).not.toContain("Demo user");
    second.child.kill("SIGINT");
    expect((await second.exited).code).toBe(0);
    // npm exited because the server did: nothing is left listening.
    await expect(request(second.url).get("/healthz").timeout(1000)).rejects.toThrow();
  });

  it("finishes an in-flight request before exiting on SIGTERM", async () => {
    const server = await startServer({ DATA_DIR: dataDir, SESSION_STORE: "memory" });
    const body = JSON.stringify({ email: "demo@example.com", password: "wrong password" });
    // Send the headers and half the body, signal, then the rest: the request is surely in flight.
    const answer = new Promise<{ status: number | undefined; text: string }>((resolve, reject) => {
      const req = http.request(`${server.url}/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
      });
      req.on("response", (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      });
      req.on("error", reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        server.child.kill("SIGTERM");
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 300);
    });
    const res = await answer;
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toEqual({ error: "Invalid credentials" });
    expect((await server.exited).code).toBe(0);
  });

  it("with SHUTDOWN_DELAY, keeps serving after SIGTERM while /readyz answers 503, then exits 0", async () => {
    const server = await startServer({ DATA_DIR: dataDir, SESSION_STORE: "memory", SHUTDOWN_DELAY: "2s" });
    expect((await request(server.url).get("/readyz")).status).toBe(200);
    const signalled = Date.now();
    server.child.kill("SIGTERM");
    // The signal is asynchronous: poll until the instance reports it is draining.
    let ready = await request(server.url).get("/readyz");
    while (ready.status === 200 && Date.now() - signalled < 1000) ready = await request(server.url).get("/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({ ok: false, failing: ["shutdown"] });
    // Still accepting and serving during the delay: the balancer is moving traffic away.
    expect((await request(server.url).get("/healthz")).body).toEqual({ ok: true });
    expect((await request(server.url).get("/login")).status).toBe(200);
    const done = await server.exited;
    expect(done.code).toBe(0);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(1900);
  });

  it("after SIGTERM, responses close their keep-alive connections: busy clients move on, none is reset", async () => {
    const server = await startServer({ DATA_DIR: dataDir, SESSION_STORE: "memory", SHUTDOWN_DELAY: "1s" });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const get = () =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const req = http.get(`${server.url}/healthz`, { agent }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        });
        // reusedSocket: the request went out on a kept-alive connection (the case that must not be reset).
        req.on("error", (error: NodeJS.ErrnoException) => reject(Object.assign(error, { reused: req.reusedSocket })));
      });
    try {
      expect((await get()).connection).toBe("keep-alive");
      const signalled = Date.now();
      server.child.kill("SIGTERM");
      const seen: Array<{ status: number; connection: string | undefined }> = [];
      const errors: string[] = [];
      // Four clients that keep their connections busy through the whole drain, as a pool does.
      let exited = false;
      void server.exited.then(() => (exited = true));
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (!exited && Date.now() - signalled < 4000) {
            try {
              seen.push(await get());
            } catch (error) {
              // A request on a reused keep-alive connection must never be reset. A brand-new connection
              // refused, or reset because it was still in the listen backlog when the listener closed,
              // is the end of the drain (a balancer that reads /readyz stops sending before it).
              const { code = "", reused } = error as { code?: string; reused?: boolean };
              if (reused) errors.push(`${code} on a reused connection`);
              break;
            }
          }
        }),
      );
      const done = await server.exited;
      expect(done.code).toBe(0);
      expect(errors).toEqual([]);
      expect(seen.filter((entry) => entry.connection === "close").length).toBeGreaterThan(0);
      expect(Date.now() - signalled).toBeLessThan(4000); // busy connections did not hold the exit open
    } finally {
      agent.destroy();
    }
  });

  it("user:add adds a user to the same database; clear errors and exit codes", async () => {
    const env = { DATA_DIR: dataDir };
    const added = await run("app/cli/user-add.ts", ["--email", " Admin@Example.com ", "--password", "admin password 1", "--role", "admin"], env);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain("Added admin@example.com (role admin)");

    const duplicate = await run("app/cli/user-add.ts", ["--email", "admin@example.com", "--password", "admin password 2"], env);
    expect(duplicate.code).toBe(3);
    expect(duplicate.stderr).toMatch(/already exists/);

    const missing = await run("app/cli/user-add.ts", ["--email", "x@example.com"], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--password is required/);
    const weak = await run("app/cli/user-add.ts", ["--email", "x@example.com", "--password", "short"], env);
    expect(weak.code).toBe(2);
    expect(weak.stderr).toMatch(/the password must be at least 12 characters/);
    const common = await run("app/cli/user-add.ts", ["--email", "x@example.com", "--password", "qwerty123456"], env);
    expect(common.code).toBe(2);
    expect(common.stderr).toMatch(/commonly used passwords/);
    for (const role of ["superuser", "Admin", ""]) {
      const unknown = await run("app/cli/user-add.ts", ["--email", "x@example.com", "--password", "long enough, really", "--role", role], env);
      expect(unknown.code, role).toBe(2);
      expect(unknown.stderr).toContain(`unknown role ${JSON.stringify(role)}; --role must be one of user, admin`);
    }
    const badConfig = await run("app/cli/user-add.ts", ["--email", "x@example.com", "--password", "long enough, really"], { ...env, SESSION_STORE: "nope" });
    expect(badConfig.code).toBe(1);

    const handle = await createApp(
      { ...parseConfig({ DATA_DIR: dataDir, SESSION_KEYS: TEST_KEY, SESSION_STORE: "memory" }), seedDemoUser: false },
      { logger: pino({ level: "silent" }) },
    );
    try {
      const res = await request(handle.app.callback()).post("/login").send({ email: "admin@example.com", password: "admin password 1" });
      expect(res.status).toBe(200);
      expect((await handle.users.findByEmail("admin@example.com"))?.role).toBe("admin");
    } finally {
      await handle.close();
    }
  });
});
