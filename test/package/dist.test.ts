/**
 * The published build, as a user gets it: every subpath loads from ESM and CommonJS, and stores that
 * load their client library on demand (ioredis, pg, better-sqlite3) find it in both formats.
 * `npm test` builds dist/ (lint:package) before the test runner starts.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const built = existsSync("dist/index.js") && existsSync("dist/index.cjs");
if (!built) console.warn("\n  SKIPPED: dist/ is not built; run `npm run build` (npm test does it first).\n");
if (!built && process.env.CI === "true") throw new Error("dist/ is missing under CI=true; npm test builds it before the tests");

const sqlitePath = (format: string) => join(tmpdir(), `sk-dist-${format}-${process.pid}.sqlite`);

const esm = `
import session, { keyring, MemoryStore } from "koa-sessionkit";
import { MemoryStore as M2 } from "koa-sessionkit/memory";
import { SqliteStore } from "koa-sessionkit/sqlite";
import { RedisStore } from "koa-sessionkit/redis";
import { PostgresStore } from "koa-sessionkit/postgres";
import { connectStore } from "koa-sessionkit/connect";
import { hashPassword, login } from "koa-sessionkit/auth";
const store = new SqliteStore({ path: ${JSON.stringify(sqlitePath("esm"))}, pruneIntervalMs: false });
await store.set("k", { a: 1 }, 60000);
const redis = new RedisStore({ url: "redis://127.0.0.1:1", lazyConnect: true });
await redis.close();
const pg = new PostgresStore({ connectionString: "postgres://127.0.0.1:1/none", createTable: false, pruneIntervalMs: false });
await pg.close();
console.log(JSON.stringify({ session: typeof session, keyring: typeof keyring, memory: MemoryStore === M2, got: (await store.get("k")).a, hash: (await hashPassword("correct horse battery")).slice(0, 10), login: typeof login, connect: typeof connectStore }));
await store.close();
`;

const cjs = `
const { session, keyring, MemoryStore } = require("koa-sessionkit");
const { MemoryStore: M2 } = require("koa-sessionkit/memory");
const { SqliteStore } = require("koa-sessionkit/sqlite");
const { RedisStore } = require("koa-sessionkit/redis");
const { PostgresStore } = require("koa-sessionkit/postgres");
const { connectStore } = require("koa-sessionkit/connect");
const { hashPassword, login } = require("koa-sessionkit/auth");
(async () => {
  const store = new SqliteStore({ path: ${JSON.stringify(sqlitePath("cjs"))}, pruneIntervalMs: false });
  await store.set("k", { a: 1 }, 60000);
  const redis = new RedisStore({ url: "redis://127.0.0.1:1", lazyConnect: true });
  await redis.close();
  const pg = new PostgresStore({ connectionString: "postgres://127.0.0.1:1/none", createTable: false, pruneIntervalMs: false });
  await pg.close();
  console.log(JSON.stringify({ session: typeof session, keyring: typeof keyring, memory: MemoryStore === M2, got: (await store.get("k")).a, hash: (await hashPassword("correct horse battery")).slice(0, 10), login: typeof login, connect: typeof connectStore }));
  await store.close();
})();
`;

const expected = { session: "function", keyring: "function", memory: true, got: 1, hash: "$argon2id$", login: "function", connect: "function" };

describe.skipIf(!built)("the built package", () => {
  it("loads every subpath from ESM, including stores that load their client on demand", async () => {
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", esm]);
    expect(JSON.parse(stdout.trim())).toEqual(expected);
  });

  it("loads every subpath from CommonJS", async () => {
    const { stdout } = await run(process.execPath, ["-e", cjs]);
    // Shared chunks in CommonJS too (tsup.config.ts): one MemoryStore class across subpaths.
    expect(JSON.parse(stdout.trim())).toEqual(expected);
  });

  it("reports real class names and stable codes from both builds (not the _class2 of a transform)", async () => {
    const probe = (load: string) => `
${load}
const names = [core.SessionkitError, core.SessionConfigError, core.StoreUnavailableError, core.MemoryStore, core.Session, auth.PasswordTooLongError, auth.ThrottleUnavailableError].map((c) => c.name);
let thrown;
try { core.session({}); } catch (err) { thrown = [err.name, err.constructor.name, err.code, String(err.stack).split("\\n")[0].split(":")[0]]; }
const parsed = core.SessionOptions.safeParse({ maxAge: "soon" });
const schema = [core.SessionOptions.parse({}).key, parsed.success, parsed.error.name, parsed.error.code];
console.log(JSON.stringify({ names, thrown, schema }));
`;
    const want = {
      names: ["SessionkitError", "SessionConfigError", "StoreUnavailableError", "MemoryStore", "Session", "PasswordTooLongError", "ThrottleUnavailableError"],
      thrown: ["SessionConfigError", "SessionConfigError", "ERR_SESSIONKIT_MISSING_APP", "SessionConfigError"],
      // The runtime SessionOptions (koa-session 7's schema export) from both builds.
      schema: ["koa.sess", false, "SessionConfigError", "ERR_SESSIONKIT_CONFIG"],
    };
    const fromCjs = await run(process.execPath, ["-e", probe('const core = require("koa-sessionkit"); const auth = require("koa-sessionkit/auth");')]);
    expect(JSON.parse(fromCjs.stdout.trim())).toEqual(want);
    const fromEsm = await run(process.execPath, [
      "--input-type=module",
      "-e",
      probe('const core = await import("koa-sessionkit"); const auth = await import("koa-sessionkit/auth");'),
    ]);
    expect(JSON.parse(fromEsm.stdout.trim())).toEqual(want);
  });

  it("serves a login round trip from the CommonJS build (session + auth from two subpaths)", async () => {
    const { stdout } = await run(process.execPath, ["-e", cjsRoundTrip]);
    expect(JSON.parse(stdout.trim())).toEqual({ before: "none", login: "ok", after: "u1", cookie: true });
  });
});

/** A real Koa app, required the CommonJS way: the auth bundle must find the session the core made. */
const cjsRoundTrip = `
const Koa = require("koa");
const { session, MemoryStore } = require("koa-sessionkit");
const { login, currentUser } = require("koa-sessionkit/auth");
const app = new Koa();
app.keys = ["a-key-of-at-least-thirty-two-bytes-000"];
app.use(session({ store: new MemoryStore() }, app));
app.use(async (ctx) => {
  if (ctx.path === "/login") { await login(ctx, { id: "u1" }); ctx.body = "ok"; return; }
  ctx.body = String(currentUser(ctx)?.id ?? "none");
});
const server = app.listen(0, "127.0.0.1", async () => {
  const base = "http://127.0.0.1:" + server.address().port;
  const before = await (await fetch(base + "/me")).text();
  const res = await fetch(base + "/login");
  const cookie = res.headers.getSetCookie().map((line) => line.split(";")[0]).join("; ");
  const after = await (await fetch(base + "/me", { headers: { cookie } })).text();
  console.log(JSON.stringify({ before, login: await res.text(), after, cookie: cookie.includes("koa.sess.sig=") }));
  server.close();
});
`;
