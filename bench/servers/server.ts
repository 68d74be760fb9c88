/**
 * One benchmark server: `node --import tsx bench/servers/server.ts <case>`, configured by env
 * (PORT, REDIS_URL, PG_URL, SQLITE_PATH, PG_TABLE, SCALE_MEMORY_COUNT, BENCH_SESSIONS, BENCH_WHOLE_OBJECT_WRITES). Prints one JSON line on stdout
 * when listening ({"ready":true,"port":N}) or when the case can't run ({"skipped":"reason"}).
 *
 * Routes: POST /login sets `session.userId = "u1"` (a `-loggedin` case calls auth's login() first); GET / is the measured request (read: returns
 * session.userId and changes nothing; write: increments session.count); GET /__stats returns the
 * store operations this process counted (it runs before any session middleware, so it is never
 * measured and never touches a session).
 */
import { createRequire } from "node:module";
import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import type Koa from "koa";
import type { Context, Next } from "koa";
import type { RequestHandler } from "express";
import type { SessionStore } from "../../src/stores/contract.js";
import {
  APP_KEYS,
  PG_TABLE_CONNECT,
  PG_TABLE_SESSIONKIT,
  REDIS_PREFIX,
  SESSION_MAX_AGE_MS,
  findCase,
  type CaseDef,
} from "../lib/cases.js";
import { countingStore, countPgQueries, stats, statsNow } from "./counting.js";
import { profileRoute } from "./profiler.js";

const require = createRequire(import.meta.url);
const caseName = process.argv[2] ?? "";
const def = findCase(caseName);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const port = Number(process.env.PORT ?? 0);

/** Resources to release on shutdown, in order. */
const closers: (() => Promise<unknown> | unknown)[] = [];
let server: Server | undefined;

function say(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

// ------------------------------------------------------------------ Koa (2) servers

/**
 * A `*-write-set` case (or BENCH_WHOLE_OBJECT_WRITES=1 for any case) hides the store's merge, so
 * commits write the whole session with set() as koa-session does: the "before" of issue 9's per-key
 * merge, for a before/after comparison.
 */
async function sessionkitStore(def: CaseDef): Promise<SessionStore | undefined> {
  const store = await makeSessionkitStore(def.backend);
  if (!store || (def.wholeObject !== true && process.env.BENCH_WHOLE_OBJECT_WRITES !== "1")) return store;
  return {
    get: (key, maxAge, options) => store.get(key, maxAge, options),
    set: (key, session, maxAge, options) => store.set(key, session, maxAge, options),
    destroy: (key, options) => store.destroy(key, options),
  };
}

async function makeSessionkitStore(backend: CaseDef["backend"]): Promise<SessionStore | undefined> {
  switch (backend) {
    case "memory": {
      const { MemoryStore } = await import("../../src/stores/memory.js");
      const count = Number(process.env.SCALE_MEMORY_COUNT ?? 0);
      // Room for every session the run logs in (--sessions N), as an operator would size it.
      const sessions = Number(process.env.BENCH_SESSIONS ?? 0);
      const store = new MemoryStore({ max: Math.max(10_000, count + 1_000, sessions + 1_000) });
      if (count > 0) await populateMemory(store, count);
      return countingStore(store);
    }
    case "redis": {
      const { RedisStore } = await import("../../src/stores/redis.js");
      const store = new RedisStore({ url: REDIS_URL, keyPrefix: REDIS_PREFIX });
      closers.push(() => store.close());
      return store; // counted by Redis itself (INFO commandstats / MONITOR)
    }
    case "postgres": {
      countPgQueries(require("pg") as typeof import("pg"));
      const { PostgresStore } = await import("../../src/stores/postgres.js");
      const store = new PostgresStore({ connectionString: PG_URL, table: process.env.PG_TABLE ?? PG_TABLE_SESSIONKIT });
      closers.push(() => store.close());
      return store; // counted at the pg client (every statement sent to the server)
    }
    case "sqlite": {
      const { SqliteStore } = await import("../../src/stores/sqlite.js");
      const store = new SqliteStore({ path: process.env.SQLITE_PATH ?? "/tmp/skbench.sqlite" });
      closers.push(() => store.close());
      return countingStore(store);
    }
    default:
      return undefined;
  }
}

/** Fill the MemoryStore through set(), the way the middleware would (same key format), and measure the heap. */
async function populateMemory(store: SessionStore, count: number): Promise<void> {
  const { storeKeyFor, generateId } = await import("../../src/crypto/ids.js");
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const session = { _expire: now + SESSION_MAX_AGE_MS, _maxAge: SESSION_MAX_AGE_MS, _sk: { createdAt: now, lastSeenAt: now }, userId: `u${i}` };
    await store.set(storeKeyFor(generateId()), session, SESSION_MAX_AGE_MS + 10_000, {});
  }
  gc?.();
  const after = process.memoryUsage().heapUsed;
  stats.memory = { sessions: count, heapDeltaBytes: after - before, bytesPerSession: (after - before) / count };
}

/** Not async: every case, koa-bare included, runs this first, and an async layer costs a promise per request. */
function statsRoute(ctx: Context, next: Next): Promise<void> | void {
  if (ctx.path === "/__stats") {
    ctx.body = statsNow();
    return;
  }
  if (ctx.path.startsWith("/__profile/")) {
    return profileRoute(ctx.path).then((body) => {
      ctx.body = body ?? { error: "profiling is off (BENCH_PROFILE=1)" };
    });
  }
  return next();
}

async function koaApp(def: CaseDef): Promise<Koa> {
  const Koa2 = require("koa2") as typeof Koa;
  const app = new Koa2();
  app.keys = APP_KEYS;
  app.silent = true;
  app.use(statsRoute);

  if (def.library === "koa-session") {
    const { default: koaSession } = await import("koa-session");
    // koa-session's README CONFIG, except secure (the benchmark speaks plain HTTP on loopback).
    const config: Parameters<typeof koaSession>[0] = {
      key: "koa.sess",
      maxAge: SESSION_MAX_AGE_MS,
      autoCommit: true,
      overwrite: true,
      httpOnly: true,
      signed: true,
      rolling: false,
      renew: false,
      secure: false,
    };
    if (def.backend === "redis") {
      // koa-redis's README: redisStore({ ...ioredis options }); it brings its own ioredis client.
      type KoaRedis = (options: { url?: string; keyPrefix?: string }) => { quit(): Promise<void> };
      const redisStore = require("koa-redis") as KoaRedis;
      const store = redisStore({ url: REDIS_URL, keyPrefix: REDIS_PREFIX });
      closers.push(() => store.quit());
      Object.assign(config, { store });
    }
    app.use(koaSession(config, app));
  } else if (def.library === "sessionkit") {
    const { default: session } = await import("../../src/index.js");
    if (def.backend === "cookie") {
      app.use(session({ key: "koa.sess", maxAge: SESSION_MAX_AGE_MS, mode: "cookie" }, app));
    } else {
      const store = await sessionkitStore(def);
      app.use(session({ key: "koa.sess", maxAge: SESSION_MAX_AGE_MS, store }, app));
    }
  }

  const login = def.loggedIn === true ? (await import("../../src/auth/index.js")).login : undefined;
  // Synchronous for every measured request: an async handler would add a promise to koa-bare too.
  app.use((ctx) => {
    if (ctx.path === "/login" && ctx.method === "POST" && login) {
      return login(ctx, { id: "u1" }).then(() => {
        if (ctx.session) ctx.session.userId = "u1";
        ctx.body = "ok";
      });
    }
    if (ctx.path === "/login" && ctx.method === "POST") {
      if (ctx.session) ctx.session.userId = "u1";
      ctx.body = "ok";
      return;
    }
    if (ctx.path !== "/") {
      ctx.status = 404;
      return;
    }
    if (def.library === "bare") {
      ctx.body = "u1";
      return;
    }
    const current = ctx.session;
    if (!current) throw new Error("no session");
    if (def.operation === "write") {
      const count = (typeof current.count === "number" ? current.count : 0) + 1;
      current.count = count;
      ctx.body = String(count);
    } else {
      ctx.body = typeof current.userId === "string" ? current.userId : "anonymous";
    }
  });
  return app;
}

// ------------------------------------------------------------------ Express servers

interface PgSessionCtor {
  new (options: { pool: import("pg").Pool; tableName: string; createTableIfMissing: boolean }): import("express-session").Store & {
    close(): Promise<void>;
  };
}

async function expressHandler(def: CaseDef): Promise<(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void> {
  const { default: express } = await import("express");
  const { default: expressSession } = await import("express-session");
  const app = express();
  app.disable("x-powered-by");
  app.get("/__stats", (_req, res) => {
    res.json(statsNow());
  });

  let store: import("express-session").Store;
  if (def.backend === "redis") {
    // connect-redis's README: a node-redis client, resave: false, saveUninitialized: false.
    const { RedisStore } = await import("connect-redis");
    const { createClient } = await import("redis");
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    closers.push(() => client.quit());
    store = new RedisStore({ client, prefix: REDIS_PREFIX });
  } else {
    // connect-pg-simple's README (advanced example): a pg Pool, a table, resave: false.
    const pg = require("pg") as typeof import("pg");
    countPgQueries(pg);
    const pool = new pg.Pool({ connectionString: PG_URL });
    const PgSession = (require("connect-pg-simple") as (session: unknown) => PgSessionCtor)(expressSession);
    const pgStore = new PgSession({ pool, tableName: PG_TABLE_CONNECT, createTableIfMissing: true });
    closers.push(() => pgStore.close(), () => pool.end());
    store = pgStore;
  }
  const sessionMiddleware: RequestHandler = expressSession({
    store,
    secret: APP_KEYS,
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: SESSION_MAX_AGE_MS },
  });
  app.use(sessionMiddleware);
  app.post("/login", (req, res) => {
    (req.session as unknown as Record<string, unknown>).userId = "u1";
    res.send("ok");
  });
  app.get("/", (req, res) => {
    const data = req.session as unknown as Record<string, unknown>;
    res.send(typeof data.userId === "string" ? data.userId : "anonymous");
  });
  return app;
}

// ------------------------------------------------------------------ lifecycle

async function shutdown(code: number): Promise<void> {
  const closing = server;
  server = undefined;
  if (closing) {
    closing.closeAllConnections();
    await new Promise<void>((resolve) => closing.close(() => resolve()));
  }
  for (const close of closers) {
    try {
      await close();
    } catch {
      // best effort: the process is exiting anyway
    }
  }
  process.exit(code);
}

async function main(): Promise<void> {
  if (!def) {
    say({ error: `unknown case ${JSON.stringify(caseName)}` });
    process.exit(2);
  }
  process.on("SIGTERM", () => void shutdown(0));
  process.on("SIGINT", () => void shutdown(0));
  // The harness going away (its stdin pipe closes) takes the server with it.
  process.stdin.on("end", () => void shutdown(0));
  process.stdin.resume();

  let handler: (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void;
  try {
    if (def.library === "express-session") handler = await expressHandler(def);
    else if (def.library.startsWith("fastify")) handler = await (await import("./fastify.js")).fastifyHandler(def);
    else handler = (await koaApp(def)).callback();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      say({ skipped: "not available", detail: (error as Error).message });
      process.exit(0);
    }
    throw error;
  }
  const { createServer } = await import("node:http");
  const listening = createServer(handler);
  listening.keepAliveTimeout = 65_000;
  // A fixed-size pass sends a few requests past its count on other connections; the harness
  // divides store operations by what the server actually answered.
  listening.on("request", (req: IncomingMessage) => {
    if (req.url === "/") stats.served++;
  });
  server = listening;
  listening.listen(port, "127.0.0.1", () => {
    say({ ready: true, port: (listening.address() as AddressInfo).port, memory: stats.memory ?? null });
  });
}

main().catch((error: unknown) => {
  say({ error: (error as Error).stack ?? String(error) });
  void shutdown(1);
});
