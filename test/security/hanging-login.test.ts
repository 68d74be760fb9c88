/**
 * One store-time budget per request (src/stores/deadline.ts): a login or logout whose store stalls
 * at any step answers 503 within storeTimeout (+ scheduling slack), however many store calls it
 * makes (session read, throttle counters, destroy of the old session, write of the new one, the
 * per-user index), never retries a write that failed, and leaves nothing half-written behind. The
 * throttle's reset after a right password runs in the background and never holds the answer.
 *
 * The throttle's counter store is PostgreSQL behind a pool wrapper that can stall chosen queries.
 */
import Koa from "koa";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import session from "../../src/index.js";
import { listSessions, login, loginThrottle, logout, logoutEverywhere, revokeSession, type LoginThrottle } from "../../src/auth/index.js";
import { DATABASE_URL, requireService } from "../helpers/services.js";
import { behave, cookieOf, send as sendGet, listen, StallingStore, type Behaviour, type Reply } from "../helpers/stalling-store.js";

const send = (port: number, path: string, cookie?: string) => sendGet(port, path, cookie, "POST");

const KEYS = ["hang-login-key-0123456789abcdef0123456789abcdef"];
/** Large enough against SLACK that two timeouts in a row (the old behaviour) fall outside the bound. */
const STORE_TIMEOUT = 500;
/** Scheduling slack on a busy 2-core machine; the point is "one storeTimeout", not "instant". */
const SLACK = 250;
const USER = "user-1";
const EMAIL = "hang@example.com";

/** check() counts the attempt with an upsert ("count"); succeed() deletes the account's counter ("reset"). */
type ThrottleQuery = "peek" | "count" | "reset";

/**
 * A pg Pool for the throttle's counters that can stall its queries by kind. Named Pool because
 * rate-limiter-flexible tells pools from clients by constructor name.
 */
class Pool {
  readonly behaviour = new Map<ThrottleQuery, Behaviour>();
  constructor(readonly real: pg.Pool) {}
  query(config: string | { text: string; values?: unknown[] }, values?: unknown[]): Promise<pg.QueryResult> {
    const text = typeof config === "string" ? config : config.text;
    const kind: ThrottleQuery | undefined = /^\s*SELECT points/.test(text)
      ? "peek"
      : /^\s*DELETE FROM \S+ WHERE key/.test(text)
        ? "reset"
        : /INSERT INTO/.test(text)
          ? "count"
          : undefined;
    const run = () => (typeof config === "string" ? this.real.query(config, values) : this.real.query(config));
    return Promise.resolve(behave(kind ? (this.behaviour.get(kind) ?? "ok") : "ok", run));
  }
}

interface Server {
  port: number;
  store: StallingStore;
  close(): Promise<void>;
}

const servers: Server[] = [];

/** The login route of the docs (check → verify → succeed → login), logout and the session list. */
async function start(throttle: LoginThrottle | undefined): Promise<Server> {
  const store = new StallingStore();
  const app = new Koa();
  app.keys = KEYS;
  app.silent = true;
  app.use(session({ store, storeTimeout: STORE_TIMEOUT }, app));
  app.use(async (ctx) => {
    if (ctx.path === "/visit") {
      (ctx.session as Record<string, unknown>).visited = true;
    } else if (ctx.path === "/login") {
      if (throttle) {
        const gate = await throttle.check(ctx, EMAIL);
        if (!gate.allowed) ctx.throw(429);
        await throttle.succeed(ctx, EMAIL);
      }
      await login(ctx, { id: USER });
    } else if (ctx.path === "/logout") {
      await logout(ctx);
    } else if (ctx.path === "/logout-others") {
      await logoutEverywhere(ctx, { exceptCurrent: true });
    } else if (ctx.path === "/revoke-other") {
      const other = (await listSessions(ctx)).find((entry) => !entry.current);
      ctx.body = { revoked: other ? await revokeSession(ctx, other.id) : false };
      return;
    }
    ctx.body = { ok: true };
  });
  const handle: Server = { ...(await listen(app.callback())), store };
  servers.push(handle);
  return handle;
}

afterAll(async () => {
  for (const server of servers) await server.close();
});

function expectBounded503(reply: Reply): void {
  expect(reply.status).toBe(503);
  expect(reply.retryAfter).toBe("5");
  expect(reply.setCookie).toEqual([]);
  expect(reply.body).not.toMatch(/at |Error/);
  expect(reply.ms).toBeLessThan(STORE_TIMEOUT + SLACK);
}

/** An anonymous session (a visitor on the login page), and a logged-in one. */
async function visitor(server: Server): Promise<string> {
  const reply = await send(server.port, "/visit");
  expect(reply.status).toBe(200);
  return cookieOf(reply);
}

async function loggedIn(server: Server): Promise<string> {
  const reply = await send(server.port, "/login", await visitor(server));
  expect(reply.status).toBe(200);
  return cookieOf(reply);
}

const userSessions = async (server: Server) => (await server.store.inner.listByUser(USER)).length;

describe("login with a stalling session store: one storeTimeout in all, nothing half-written", () => {
  it("the session read hangs: 503, nothing written", async () => {
    const server = await start(undefined);
    const cookie = await visitor(server);
    server.store.behaviour.set("get", "hang");
    expectBounded503(await send(server.port, "/login", cookie));
    expect(server.store.count("set")).toBe(1); // only the visit's
    expect(await userSessions(server)).toBe(0);
  });

  it("the old session's destroy hangs: 503, no logged-in session written afterwards", async () => {
    const server = await start(undefined);
    const cookie = await visitor(server);
    const from = server.store.calls.length;
    server.store.behaviour.set("destroy", "hang");
    expectBounded503(await send(server.port, "/login", cookie));
    expect(server.store.count("destroy", from)).toBe(1);
    // The commit after the failed handler must not write the session it could not regenerate.
    expect(server.store.count("set", from) + server.store.count("merge", from)).toBe(0);
    expect(await userSessions(server)).toBe(0);
  });

  it("the new session's write hangs: 503 after one storeTimeout, written once, never retried", async () => {
    const server = await start(undefined);
    const cookie = await visitor(server);
    const from = server.store.calls.length;
    server.store.behaviour.set("set", "hang");
    expectBounded503(await send(server.port, "/login", cookie));
    expect(server.store.count("set", from)).toBe(1);
    expect(await userSessions(server)).toBe(0);
  });

  it("slow steps share one budget: a slow destroy leaves the write only what is left", async () => {
    const server = await start(undefined);
    const cookie = await visitor(server);
    server.store.behaviour.set("destroy", { delayMs: STORE_TIMEOUT * 0.7 });
    server.store.behaviour.set("set", "hang");
    expectBounded503(await send(server.port, "/login", cookie));
  });
});

describe("logout and revoke with a stalling session store", () => {
  it("logout's destroy hangs: 503 within storeTimeout, destroyed once (no retry), the cookie kept", async () => {
    const server = await start(undefined);
    const cookie = await loggedIn(server);
    const from = server.store.calls.length;
    server.store.behaviour.set("destroy", "hang");
    expectBounded503(await send(server.port, "/logout", cookie));
    expect(server.store.count("destroy", from)).toBe(1);
    expect(await userSessions(server)).toBe(1);
  });

  it("logout everywhere: destroyByUser hangs → 503, no second call", async () => {
    const server = await start(undefined);
    const cookie = await loggedIn(server);
    await loggedIn(server);
    const from = server.store.calls.length;
    server.store.behaviour.set("destroyByUser", "hang");
    expectBounded503(await send(server.port, "/logout-others", cookie));
    expect(server.store.count("destroyByUser", from)).toBe(1);
    expect(await userSessions(server)).toBe(2);
  });

  it("revoke: a slow list and a hanging destroy share one budget", async () => {
    const server = await start(undefined);
    const cookie = await loggedIn(server);
    await loggedIn(server);
    server.store.behaviour.set("listByUser", { delayMs: STORE_TIMEOUT * 0.35 });
    server.store.behaviour.set("destroy", "hang");
    expectBounded503(await send(server.port, "/revoke-other", cookie));
    expect(await userSessions(server)).toBe(2);
  });
});

const postgresUp = await requireService("postgres");

describe.skipIf(!postgresUp)("login with a stalling throttle counter store (PostgreSQL)", () => {
  let real: pg.Pool;
  let pool: Pool;
  const table = `sk_hang_${process.pid}_${Date.now()}`;
  beforeAll(() => {
    real = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
    pool = new Pool(real);
  });
  afterAll(async () => {
    await real.query(`DROP TABLE IF EXISTS ${table}`);
    await real.end();
  });

  const throttled = async () => {
    pool.behaviour.clear();
    const throttle = loginThrottle({ pg: pool as unknown as pg.Pool, tableName: table, keyPrefix: `hang${Date.now()}:`, storeTimeout: STORE_TIMEOUT });
    const server = await start(throttle);
    // Let the throttle create its table before anything stalls. Under a full parallel run the first
    // CREATE TABLE can outlast the 500 ms budget (a 503 then is right, and not what this test is
    // about), so the warm-up may take a few tries.
    let warm = 0;
    for (let attempt = 0; attempt < 5 && warm !== 200; attempt++) warm = (await send(server.port, "/login", await visitor(server))).status;
    expect(warm).toBe(200);
    return server;
  };

  it("the throttle check hangs: 503 (Retry-After), no session written", async () => {
    const server = await throttled();
    const cookie = await visitor(server);
    const before = await userSessions(server);
    pool.behaviour.set("count", "hang");
    expectBounded503(await send(server.port, "/login", cookie));
    expect(await userSessions(server)).toBe(before);
  });

  it("the reset after a right password hangs: the login is answered without waiting for it", async () => {
    const server = await throttled();
    const cookie = await visitor(server);
    pool.behaviour.set("reset", "hang");
    const reply = await send(server.port, "/login", cookie);
    expect(reply.status).toBe(200);
    expect(reply.ms).toBeLessThan(STORE_TIMEOUT / 2);
  });

  it("a slow throttle and a hanging session write share one budget", async () => {
    const server = await throttled();
    const cookie = await visitor(server);
    const before = await userSessions(server);
    pool.behaviour.set("count", { delayMs: STORE_TIMEOUT * 0.7 });
    server.store.behaviour.set("set", "hang");
    expectBounded503(await send(server.port, "/login", cookie));
    expect(await userSessions(server)).toBe(before);
  });
});
