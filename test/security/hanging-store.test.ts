/**
 * A store that never answers must not hang the request: every store call is bounded by
 * `storeTimeout`, and the client gets a 503 (Retry-After, no Set-Cookie) shortly after it. A store
 * that fails late (after the timeout already answered) must not become an unhandled rejection, and
 * nothing may leave timers behind once the server is closed.
 */
import Koa from "koa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import session from "../../src/index.js";
import { cookieOf, send, listen, StallingStore, type Reply } from "../helpers/stalling-store.js";

const KEYS = ["hang-key-1-0123456789abcdef0123456789abcdef"];
const STORE_TIMEOUT = 200;
/** Scheduling slack on a busy 2-core machine; the point is "bounded", not "instant". */
const SLACK = 300;

const timeouts = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
let baselineTimeouts = 0;

interface Server {
  port: number;
  store: StallingStore;
  handlerRuns: string[];
  errors: unknown[];
  close(): Promise<void>;
}

const servers: Server[] = [];

async function start(options: { rolling?: boolean } = {}): Promise<Server> {
  const store = new StallingStore();
  const app = new Koa();
  app.keys = KEYS;
  const errors: unknown[] = [];
  app.silent = true;
  app.on("error", (err: unknown) => errors.push(err));
  const handlerRuns: string[] = [];
  app.use(session({ store, storeTimeout: STORE_TIMEOUT, rolling: options.rolling ?? false }, app));
  app.use(async (ctx) => {
    handlerRuns.push(ctx.path);
    const current = ctx.session;
    if (!current) throw new Error("no session");
    if (ctx.path === "/logout") ctx.session = null;
    else if (ctx.path === "/regenerate") await current.regenerate();
    else if (ctx.path === "/write") current.count = ((current.count as number | undefined) ?? 0) + 1;
    ctx.body = { ok: true };
  });
  const handle: Server = { ...(await listen(app.callback())), store, handlerRuns, errors };
  servers.push(handle);
  return handle;
}

/** A working session: written while the store behaves, then the store is switched. */
async function loggedIn(server: Server): Promise<string> {
  const reply = await send(server.port, "/write");
  expect(reply.status).toBe(200);
  const cookie = cookieOf(reply);
  expect(cookie).toMatch(/koa\.sess=.+; koa\.sess\.sig=.+/);
  return cookie;
}

/**
 * The same answer whether the middleware's own load or save failed or the handler's awaited store call
 * (`await ctx.session.regenerate()`) threw the StoreUnavailableError: no driver detail, no stack.
 */
function expectBounded503(reply: Reply): void {
  expect(reply.status).toBe(503);
  expect(reply.setCookie).toEqual([]);
  expect(reply.retryAfter).toBe("5");
  expect(reply.cacheControl).toBe("no-store");
  expect(JSON.parse(reply.body)).toEqual({ error: "Service temporarily unavailable" });
  expect(reply.ms).toBeGreaterThanOrEqual(STORE_TIMEOUT - 5);
  expect(reply.ms).toBeLessThan(STORE_TIMEOUT + SLACK);
}

beforeAll(() => {
  baselineTimeouts = timeouts();
  process.on("unhandledRejection", onUnhandled);
});

afterAll(() => {
  process.off("unhandledRejection", onUnhandled);
});

describe("a store that never answers", () => {
  it("get hangs: 503 within storeTimeout, the handler never runs", async () => {
    const server = await start();
    const cookie = await loggedIn(server);
    server.store.behaviour.set("get", "hang");
    const runsBefore = server.handlerRuns.length;
    expectBounded503(await send(server.port, "/write", cookie));
    expectBounded503(await send(server.port, "/", cookie));
    expect(server.handlerRuns.length).toBe(runsBefore);
    // A request without a cookie needs no read, so it is still served.
    expect((await send(server.port, "/")).status).toBe(200);
    expect(server.errors.every((err) => (err as { code?: string }).code === "ERR_SESSIONKIT_STORE_UNAVAILABLE")).toBe(true);
  });

  it("set hangs: saving a new session answers 503 within storeTimeout, no cookie is sent", async () => {
    const server = await start();
    server.store.behaviour.set("set", "hang");
    expectBounded503(await send(server.port, "/write"));
  });

  it("merge hangs: changing an existing session answers 503 within storeTimeout", async () => {
    const server = await start();
    const cookie = await loggedIn(server);
    server.store.behaviour.set("merge", "hang");
    server.store.behaviour.set("set", "hang");
    expectBounded503(await send(server.port, "/write", cookie));
    expect(server.store.calls).toContain("merge");
  });

  it("destroy hangs: logout and regenerate answer 503 within storeTimeout", async () => {
    const server = await start();
    const cookie = await loggedIn(server);
    server.store.behaviour.set("destroy", "hang");
    expectBounded503(await send(server.port, "/logout", cookie));
    expectBounded503(await send(server.port, "/regenerate", cookie));
  });

  it("touch hangs (rolling): answers 503 within storeTimeout", async () => {
    const server = await start({ rolling: true });
    const cookie = await loggedIn(server);
    server.store.behaviour.set("touch", "hang");
    expectBounded503(await send(server.port, "/", cookie));
    expect(server.store.calls).toContain("touch");
  });

  it("a store failing late (after the timeout answered) is not an unhandled rejection", async () => {
    const server = await start();
    const cookie = await loggedIn(server);
    for (const operation of ["get", "set", "merge", "destroy"] as const) server.store.behaviour.set(operation, { lateRejectMs: STORE_TIMEOUT * 2 });
    expectBounded503(await send(server.port, "/write", cookie));
    server.store.behaviour.set("get", "ok");
    expectBounded503(await send(server.port, "/write", cookie));
    expectBounded503(await send(server.port, "/logout", cookie));
    // Let the late rejections happen (they fire at 2 × storeTimeout), then a turn for the handlers.
    await new Promise((resolve) => setTimeout(resolve, STORE_TIMEOUT * 2 + 100));
    expect(unhandled).toEqual([]);
  });

  it("store calls that answer in time leave no timeout timer behind", async () => {
    const server = await start();
    const cookie = await loggedIn(server);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const before = timeouts();
    for (let i = 0; i < 20; i++) expect((await send(server.port, "/write", cookie)).status).toBe(200);
    // Each of those requests armed a storeTimeout timer for its get and its merge; none may remain.
    expect(timeouts()).toBeLessThanOrEqual(before);
  });

  it("after the servers close: no unhandled rejection, and no more Timeout handles than before", async () => {
    for (const server of servers) await server.close();
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    expect(timeouts()).toBeLessThanOrEqual(baselineTimeouts);
  });
});
