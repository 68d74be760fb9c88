/**
 * One error vocabulary: every misuse, in the core, the stores and auth, is a SessionConfigError (a
 * TypeError) whose message starts with the package name and whose `code` is stable.
 */
import Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import session, { contextSession, MemoryStore, SessionConfigError, StoreUnavailableError, keyring } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { RedisStore } from "../../src/stores/redis.js";
import { loadPeer } from "../../src/stores/peer.js";
import { auth, csrf, hashPassword, loginThrottle, requireRole } from "../../src/auth/index.js";
import { KEY1 } from "./_util.js";

function thrown(run: () => unknown): SessionConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(SessionConfigError);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(/^koa-sessionkit: /);
    return err as SessionConfigError;
  }
  throw new Error("expected a SessionConfigError");
}

describe("SessionConfigError everywhere, with stable codes", () => {
  it("bad options of stores and auth helpers: ERR_SESSIONKIT_CONFIG", () => {
    const cases: Array<() => unknown> = [
      () => new MemoryStore({ max: -1 }),
      () => new SqliteStore({ table: "bad name", pruneIntervalMs: false }),
      () => new PostgresStore({ connectionString: "postgres://127.0.0.1:1/x", table: "bad;name", pruneIntervalMs: false }),
      () => new RedisStore({}),
      () => auth({ idleTimeout: -1 }),
      () => requireRole([]),
      () => csrf({ allowedOrigins: ["not an origin"] }),
      () => loginThrottle({ accountLimit: 0 }),
      () => session({ maxAge: -5 }, new Koa()),
    ];
    for (const run of cases) expect(thrown(run).code).toBe("ERR_SESSIONKIT_CONFIG");
  });

  it("a missing optional peer dependency: ERR_SESSIONKIT_MISSING_PEER, with the install command", () => {
    const err = thrown(() => loadPeer("koa-sessionkit-no-such-package", "ExampleStore"));
    expect(err.code).toBe("ERR_SESSIONKIT_MISSING_PEER");
    expect(err.message).toMatch(/npm install koa-sessionkit-no-such-package/);
    expect(err.cause).toBeDefined();
  });

  it("wrong calls at request time: ERR_SESSIONKIT_MISUSE", async () => {
    expect(thrown(() => keyring([KEY1]).sign("data", 5)).code).toBe("ERR_SESSIONKIT_MISUSE");
    await expect(hashPassword(42 as unknown as string)).rejects.toMatchObject({ code: "ERR_SESSIONKIT_MISUSE", name: "SessionConfigError" });

    const app = new Koa();
    app.keys = [KEY1];
    app.silent = true;
    const errors: unknown[] = [];
    app.on("error", (err) => errors.push(err));
    app.use(session({}, app));
    app.use((ctx) => {
      if (ctx.path === "/number") ctx.session = 5 as unknown as object;
      if (ctx.path === "/maxage") ctx.session.maxAge = -1;
    });
    await request(app.callback()).get("/number").expect(500);
    await request(app.callback()).get("/maxage").expect(500);
    expect(errors.map((err) => (err as SessionConfigError).code)).toEqual(["ERR_SESSIONKIT_MISUSE", "ERR_SESSIONKIT_MISUSE"]);
  });

  it("a store failure names the store's own reason (a refused command is not an outage); a timeout says it timed out", () => {
    const cause = new Error("ERR value is not an integer or out of range");
    const failed = new StoreUnavailableError("set", cause);
    expect(failed.message).toContain("failed (ERR value is not an integer or out of range) during set");
    expect(failed.cause).toBe(cause);
    expect(failed.code).toBe("ERR_SESSIONKIT_STORE_UNAVAILABLE");
    expect(new StoreUnavailableError("get", "not an Error").message).toContain("failed during get");
    expect(new StoreUnavailableError("get", undefined, true).message).toContain("did not answer in time during get");
  });

  it("the session controller asked for on an app without session(): ERR_SESSIONKIT_NOT_INSTALLED", () => {
    const app = new Koa();
    const ctx = app.createContext(new IncomingMessage(new Socket()), new ServerResponse(new IncomingMessage(new Socket())));
    expect(thrown(() => contextSession(ctx)).code).toBe("ERR_SESSIONKIT_NOT_INSTALLED");
  });
});
