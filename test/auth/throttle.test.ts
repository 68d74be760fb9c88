import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { bodyParser } from "@koa/bodyparser";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import Koa, { type Context } from "koa";
import pg from "pg";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import session from "../../src/index.js";
import {
  auth,
  hashPassword,
  login,
  loginThrottle,
  tooManyAttempts,
  verifyDummy,
  verifyPassword,
  type LoginThrottle,
  type LoginThrottleOptions,
} from "../../src/auth/index.js";
import { DATABASE_URL, REDIS_URL, requireService } from "../helpers/services.js";
import { KEYS } from "./helpers.js";

let aliceHash = "";
beforeAll(async () => {
  aliceHash = await hashPassword("right password");
});

/** The login route of the docs: check, verify (or dummy-verify), fail/succeed. */
function loginApp(throttle: LoginThrottle, proxy = false) {
  const app = new Koa({ proxy });
  app.keys = KEYS;
  app.use(session({}, app));
  app.use(auth());
  app.use(bodyParser());
  app.use(async (ctx: Context) => {
    const { email, password } = (ctx.request.body ?? {}) as { email?: string; password?: string };
    const gate = await throttle.check(ctx, email);
    if (!gate.allowed) return tooManyAttempts(ctx, gate.retryAfterSeconds);
    const known = email?.trim().toLowerCase() === "alice@example.com";
    const ok = known ? await verifyPassword(aliceHash, password ?? "") : await verifyDummy(password ?? "");
    if (!ok) {
      await throttle.fail(ctx, email);
      ctx.status = 401;
      ctx.body = { error: "Invalid email or password" };
      return;
    }
    await throttle.succeed(ctx, email);
    await login(ctx, { id: "alice" });
    ctx.body = { ok: true };
  });
  return app.callback();
}

const attempt = (server: ReturnType<typeof loginApp>, email: string, password: string, ip?: string) => {
  const req = request(server).post("/login").send({ email, password });
  return ip ? req.set("X-Forwarded-For", ip) : req;
};

async function lockoutScenario(servers: Array<ReturnType<typeof loginApp>>) {
  // 10 wrong passwords, spread over the servers: the account is locked for 15 minutes.
  for (let i = 0; i < 10; i++) {
    expect((await attempt(servers[i % servers.length]!, "alice@example.com", "wrong")).status).toBe(401);
  }
  for (const server of servers) {
    const locked = await attempt(server, "Alice@Example.com ", "right password");
    expect(locked.status).toBe(429);
    expect(locked.body).toEqual({ error: "Too many attempts" });
    expect(Number(locked.headers["retry-after"])).toBeGreaterThan(890);
    expect(Number(locked.headers["retry-after"])).toBeLessThanOrEqual(900);
  }
}

/**
 * Parallel guesses (issue: 30 wrong passwords sent at once all got a password check, since each
 * check saw the counter before any failure was counted). Every attempt is counted at check().
 */
async function parallelScenario(makeServers: () => Array<ReturnType<typeof loginApp>>) {
  const servers = makeServers();
  const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(servers[i % servers.length]!, "alice@example.com", "wrong")));
  const statuses = burst.map((res) => res.status);
  expect(statuses.filter((status) => status === 401)).toHaveLength(10);
  expect(statuses.filter((status) => status === 429)).toHaveLength(20);
  expect((await attempt(servers[0]!, "alice@example.com", "right password")).status).toBe(429);

  // 9 failures, then 19 wrong and the right one at once: one attempt is left, so one of the 20 is
  // let through (the right password only if it drew that attempt) and the rest are refused.
  const fresh = makeServers();
  for (let i = 0; i < 9; i++) expect((await attempt(fresh[0]!, "alice@example.com", "wrong")).status).toBe(401);
  const passwords = [...Array.from({ length: 19 }, () => "wrong"), "right password"];
  const race = await Promise.all(passwords.map((password, i) => attempt(fresh[i % fresh.length]!, "alice@example.com", password)));
  expect(race.filter((res) => res.status !== 429)).toHaveLength(1);
}

describe("loginThrottle (memory)", () => {
  it("locks an account after 10 failures in a row: even the right password gets 429", async () => {
    await lockoutScenario([loginApp(loginThrottle())]);
  });

  it("parallel wrong passwords get exactly accountLimit password checks; the rest are refused", async () => {
    await parallelScenario(() => [loginApp(loginThrottle())]);
  });

  it("a success resets the account counter", async () => {
    const server = loginApp(loginThrottle());
    for (let i = 0; i < 9; i++) await attempt(server, "alice@example.com", "wrong");
    expect((await attempt(server, "alice@example.com", "right password")).status).toBe(200);
    for (let i = 0; i < 9; i++) expect((await attempt(server, "alice@example.com", "wrong")).status).toBe(401);
    expect((await attempt(server, "alice@example.com", "right password")).status).toBe(200);
  });

  it("treats an unknown email exactly like a known one", async () => {
    const server = loginApp(loginThrottle());
    const known: Array<[number, string | undefined]> = [];
    const unknown: Array<[number, string | undefined]> = [];
    for (let i = 0; i < 11; i++) {
      const a = await attempt(server, "alice@example.com", "wrong");
      const b = await attempt(server, "nobody@example.com", "wrong");
      known.push([a.status, a.headers["retry-after"]]);
      unknown.push([b.status, b.headers["retry-after"]]);
    }
    expect(unknown).toEqual(known);
    expect(known.at(-1)).toEqual([429, "900"]);
  });

  it("blocks an IP after ipLimit failures over many accounts (X-Forwarded-For only behind app.proxy)", async () => {
    const throttle = loginThrottle({ ipLimit: 5 });
    const direct = loginApp(throttle);
    for (let i = 0; i < 5; i++) {
      // Spoofed X-Forwarded-For is ignored without app.proxy: all of these are one IP.
      expect((await attempt(direct, `user${i}@example.com`, "x", `10.0.0.${i}`)).status).toBe(401);
    }
    expect((await attempt(direct, "fresh@example.com", "x")).status).toBe(429);
    expect((await attempt(direct, "alice@example.com", "right password")).status).toBe(429);

    const proxied = loginApp(loginThrottle({ ipLimit: 5 }), true);
    for (let i = 0; i < 5; i++) await attempt(proxied, `user${i}@example.com`, "x", "203.0.113.7");
    expect((await attempt(proxied, "alice@example.com", "right password", "203.0.113.7")).status).toBe(429);
    expect((await attempt(proxied, "alice@example.com", "right password", "198.51.100.1")).status).toBe(200);
  });

  it("validates its options", () => {
    expect(() => loginThrottle({ accountLimit: 0 })).toThrow(/^koa-sessionkit:/);
    expect(() => loginThrottle({ windowSeconds: 1.5 } as LoginThrottleOptions)).toThrow(/^koa-sessionkit:/);
  });
});

const redisUp = await requireService("redis");
describe.skipIf(!redisUp)("loginThrottle (Redis): shared by two app instances", () => {
  const clients: Redis[] = [];
  const prefix = `sk:test:${process.pid}:${Date.now()}:`;
  afterAll(async () => {
    const keys = await clients[0]?.keys(`${prefix}*`);
    if (keys?.length) await clients[0]?.del(...keys);
    await Promise.all(clients.map((client) => client.quit()));
  });

  it("a lockout reached through one instance holds on the other", async () => {
    clients.push(new Redis(REDIS_URL), new Redis(REDIS_URL));
    const servers = clients.map((redis) => loginApp(loginThrottle({ redis, keyPrefix: prefix })));
    await lockoutScenario(servers);
    // Nothing readable in the keys: the email is hashed.
    const keys = await clients[0]!.keys(`${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join(" ")).not.toMatch(/alice/i);
  });

  it("parallel wrong passwords over two instances get exactly accountLimit password checks", async () => {
    const redis = clients[0]!;
    let run = 0;
    await parallelScenario(() => {
      const keyPrefix = `${prefix}parallel${run++}:`;
      return [loginApp(loginThrottle({ redis, keyPrefix })), loginApp(loginThrottle({ redis: clients[1]!, keyPrefix }))];
    });
  });
});

const postgresUp = await requireService("postgres");
describe.skipIf(!postgresUp)("loginThrottle (PostgreSQL): shared by two app instances", () => {
  const table = `sk_login_failures_test_${process.pid}`;
  let pool: pg.Pool | undefined;
  afterAll(async () => {
    await pool?.query(`DROP TABLE IF EXISTS ${table}`);
    await pool?.end();
  });

  it("creates its table and shares the lockout", async () => {
    pool = new pg.Pool({ connectionString: DATABASE_URL });
    const servers = [loginApp(loginThrottle({ pg: pool, tableName: table })), loginApp(loginThrottle({ pg: pool, tableName: table }))];
    await lockoutScenario(servers);
  });

  it("parallel wrong passwords over two instances get exactly accountLimit password checks", async () => {
    let run = 0;
    await parallelScenario(() => {
      const keyPrefix = `parallel${run++}:`;
      return [loginApp(loginThrottle({ pg: pool!, tableName: table, keyPrefix })), loginApp(loginThrottle({ pg: pool!, tableName: table, keyPrefix }))];
    });
  });

  /** A pool whose CREATE TABLE is rewritten by `create`; the real pool runs everything else. */
  const poolWith = (create: (real: pg.Pool, text: string) => Promise<unknown>) => {
    const real = (pool ??= new pg.Pool({ connectionString: DATABASE_URL }));
    // Named Pool: rate-limiter-flexible picks its driver by the client's constructor name.
    class Pool {
      query(query: pg.QueryConfig) {
        return /^\s*CREATE TABLE/i.test(query.text) ? create(real, query.text) : real.query(query);
      }
    }
    return new Pool() as unknown as pg.Pool;
  };
  const sqlError = (code: string) => Object.assign(new Error(`simulated SQLSTATE ${code}`), { code });

  // Four creators of one table at the same moment (two counter kinds, two instances) get these from
  // PostgreSQL; rate-limiter-flexible only accepts 23505, and refused every later call after the
  // others ("Table is not created yet", a 503 on every login until a restart).
  it.each(["23505", "42P07", "42710"])("works when its CREATE TABLE lost a creation race (SQLSTATE %s)", async (code) => {
    const raced = `${table}_race_${code.toLowerCase()}`;
    try {
      const racing = poolWith(async (real, text) => {
        await real.query(text);
        throw sqlError(code);
      });
      await lockoutScenario([loginApp(loginThrottle({ pg: racing, tableName: raced })), loginApp(loginThrottle({ pg: racing, tableName: raced }))]);
    } finally {
      await pool?.query(`DROP TABLE IF EXISTS ${raced}`);
    }
  });

  it("recovers when the database was down as it started: a 503, then the table is created on a later call", async () => {
    const late = `${table}_late`;
    let down = true;
    try {
      const flaky = poolWith((real, text) => (down ? Promise.reject(sqlError("ECONNREFUSED")) : real.query(text)));
      const server = loginApp(loginThrottle({ pg: flaky, tableName: late }));
      const refused = await attempt(server, "alice@example.com", "wrong");
      expect(refused.status).toBe(503);
      down = false;
      await lockoutScenario([server]);
    } finally {
      await pool?.query(`DROP TABLE IF EXISTS ${late}`);
    }
  });
});

/** A throwaway SQLite file: `open()` makes a connection to it; all are closed and the file removed after. */
async function withDatabaseFile(run: (open: () => Database.Database) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "sk-throttle-"));
  const opened: Database.Database[] = [];
  try {
    await run(() => {
      const database = new Database(path.join(dir, "limits.db"));
      opened.push(database);
      return database;
    });
  } finally {
    for (const database of opened) database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("loginThrottle: a refused IP", () => {
  it("adds no record per email it cycles through, and does not count against the accounts it names", async () => {
    await withDatabaseFile(async (open) => {
      const sqlite = open();
      const server = loginApp(loginThrottle({ sqlite, tableName: "sk_login_limits", ipLimit: 5 }), true);
      const attacker = "203.0.113.9";
      for (let i = 0; i < 5; i++) expect((await attempt(server, `user${i}@example.com`, "x", attacker)).status).toBe(401);
      const rows = () => (sqlite.prepare("SELECT count(*) AS n FROM sk_login_limits").get() as { n: number }).n;
      const before = rows(); // 5 accounts + 1 IP
      for (let i = 0; i < 40; i++) expect((await attempt(server, `spray${i}@example.com`, "x", attacker)).status).toBe(429);
      // Refused attempts aimed at alice from the blocked address leave her account alone.
      for (let i = 0; i < 15; i++) expect((await attempt(server, "alice@example.com", "x", attacker)).status).toBe(429);
      expect(rows()).toBe(before);
      expect((await attempt(server, "alice@example.com", "right password", "198.51.100.1")).status).toBe(200);
    });
  });
});

describe("loginThrottle (SQLite) while another program holds the write lock", () => {
  it("blocks the process for one busy_timeout, then refuses logins at once (503) until the lock is gone", async () => {
    await withDatabaseFile(async (open) => {
      const sqlite = open();
      sqlite.pragma("journal_mode = WAL");
      sqlite.pragma("busy_timeout = 300");
      const other = open();
      const app = loginApp(loginThrottle({ sqlite, tableName: "sk_login_limits" }));
      expect((await attempt(app, "alice@example.com", "x")).status).toBe(401); // the table exists now
      other.exec("BEGIN IMMEDIATE");
      const timed = async () => {
        const started = performance.now();
        const res = await attempt(app, `user${Math.random()}@example.com`, "x");
        return { status: res.status, ms: performance.now() - started };
      };
      const first = await timed();
      expect(first.status).toBe(503);
      expect(first.ms).toBeGreaterThanOrEqual(250);
      const later = [await timed(), await timed(), await timed(), await timed(), await timed()];
      expect(later.map((entry) => entry.status)).toEqual([503, 503, 503, 503, 503]);
      // Five logins cost less than the one wait (each would have waited 300 ms).
      expect(later.reduce((sum, entry) => sum + entry.ms, 0)).toBeLessThan(300);
      other.exec("COMMIT");
      expect((await attempt(app, "alice@example.com", "right password")).status).toBe(200);
      expect(sqlite.pragma("busy_timeout", { simple: true })).toBe(300);
    });
  });
});

describe("loginThrottle (SQLite): one database file, kept across restarts", () => {
  it("creates its table, shares the lockout between two throttles on the file, and a new one still sees it", async () => {
    await withDatabaseFile(async (open) => {
      const databases = [open(), open()];
      const servers = databases.map((sqlite) => loginApp(loginThrottle({ sqlite, tableName: "sk_login_limits" })));
      await lockoutScenario(servers);
      let run = 0;
      await parallelScenario(() => {
        const keyPrefix = `parallel${run++}:`;
        return databases.map((sqlite) => loginApp(loginThrottle({ sqlite, tableName: "sk_login_limits", keyPrefix })));
      });
      // A "restart": a fresh connection and throttle on the same file.
      databases.push(open());
      const restarted = loginApp(loginThrottle({ sqlite: databases[2] as Database.Database, tableName: "sk_login_limits" }));
      expect((await attempt(restarted, "alice@example.com", "right password")).status).toBe(429);
      expect(() => loginThrottle({ sqlite: databases[0] as Database.Database, pg: {} as pg.Pool })).toThrow(/one of redis, pg or sqlite/);
    });
  });
});
