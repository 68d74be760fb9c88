/** /healthz and /readyz: no session, no cookie, no log line; readiness names what is failing. */
import net from "node:net";
import path from "node:path";
import Database from "better-sqlite3";
import { Writable } from "node:stream";
import pino from "pino";
import request from "supertest";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { PROBE_TIMEOUT_MS } from "../../app/health.js";
import { startTestApp, type TestApp } from "./helpers.js";

/** A TCP server that accepts connections and never answers: a store or database that hangs. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const apps: TestApp[] = [];
afterEach(async () => {
  while (apps.length > 0) await apps.pop()?.close();
});

async function start(env: Record<string, string> = {}): Promise<TestApp> {
  const app = await startTestApp(env);
  apps.push(app);
  return app;
}

describe("health endpoints", () => {
  const holes: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const hole of holes) await hole.close();
  });

  it("/healthz and /readyz answer 200 {ok:true} with no cookie and no-store", async () => {
    const app = await start();
    for (const path of ["/healthz", "/readyz"]) {
      const res = await app.http().get(path);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ok: true });
      expect(res.headers["set-cookie"]).toBeUndefined();
      expect(res.headers["cache-control"]).toBe("no-store");
    }
    const head = await app.http().head("/readyz");
    expect(head.status).toBe(200);
    const post = await app.http().post("/readyz");
    expect(post.status).toBe(405);
    expect(post.body).toEqual({ error: "Method Not Allowed" });
  });

  it("writes no log line per call, while ordinary requests are logged", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const { createApp } = await import("../../app/app.js");
    const base = await start();
    const handle = await createApp(base.config, { logger: pino({ level: "info" }, sink) });
    try {
      const http = request(handle.app.callback());
      await http.get("/healthz");
      await http.get("/readyz");
      expect(lines).toEqual([]);
      await http.get("/login");
      expect(lines.filter((line) => line.includes('"msg":"request"'))).toHaveLength(1);
    } finally {
      await handle.close();
    }
  });

  it("/readyz is 503 naming the session store when it hangs, within about a second; /healthz stays 200", async () => {
    const hole = await blackHole();
    holes.push(hole);
    const app = await start({ SESSION_STORE: "redis", REDIS_URL: `redis://127.0.0.1:${hole.port}` });
    const started = Date.now();
    const res = await app.http().get("/readyz");
    const elapsed = Date.now() - started;
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ ok: false, failing: ["sessions"] });
    expect(elapsed).toBeGreaterThanOrEqual(PROBE_TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(PROBE_TIMEOUT_MS + 1500);
    expect((await app.http().get("/healthz")).status).toBe(200);
  });

  it("/readyz is 503 naming the session store when it reads but can't write (another process holds the SQLite write lock)", async () => {
    const app = await start({ SESSION_STORE: "sqlite" });
    expect((await app.http().get("/readyz")).status).toBe(200);
    const blocker = new Database(path.join(app.dataDir, "app.db"));
    try {
      blocker.exec("BEGIN EXCLUSIVE"); // WAL: readers go on, every write waits for busy_timeout and fails
      const res = await app.http().get("/readyz");
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ ok: false, failing: ["sessions"] });
    } finally {
      if (blocker.inTransaction) blocker.exec("ROLLBACK");
      blocker.close();
    }
    expect((await app.http().get("/readyz")).status).toBe(200);
  }, 20_000);

  it("/readyz is 503 naming the user database when it refuses connections", async () => {
    const port = await closedPort();
    const app = await start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test` });
    const res = await app.http().get("/readyz");
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ ok: false, failing: ["users"] });
  });

  it("/readyz names both when both are down, and concurrent polls share one round of probes", async () => {
    const hole = await blackHole();
    holes.push(hole);
    const port = await closedPort();
    const app = await start({ SESSION_STORE: "redis", REDIS_URL: `redis://127.0.0.1:${hole.port}`, DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test` });
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 5 }, () => app.http().get("/readyz")));
    // Five polls sharing one round finish together, about one probe timeout after the start.
    expect(Date.now() - started).toBeLessThan(PROBE_TIMEOUT_MS * 2 + 1000);
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ ok: false, failing: ["sessions", "users"] });
    }
  });

  it("/readyz is 503 'shutdown' once a shutdown began, while /healthz stays 200", async () => {
    const app = await start();
    app.handle.health.shuttingDown = true;
    const res = await app.http().get("/readyz");
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ ok: false, failing: ["shutdown"] });
    expect((await app.http().get("/healthz")).body).toEqual({ ok: true });
  });
});
