/**
 * Two processes of the reference app behind one shared session store (Redis, then PostgreSQL): a
 * session made on A works on B, and logging out on B ends it on A at once.
 *
 * Redis: users live in each instance's SQLite (DATA_DIR), so the user is added with user:add to A's
 * DATA_DIR and that database is copied to B's (the user needs the same id on both); nothing but
 * Redis is shared. PostgreSQL: users and sessions both live in the shared database.
 */
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_URL, REDIS_URL, requireService } from "../helpers/services.js";
import { addUserCli, api, cookieFrom, startAppProcess, type AppProcess } from "./helpers.js";

const SESSION_KEYS = "multi-instance-key-0123456789abcdef0123456789";
const PASSWORD = "correct horse battery staple";

const [redisUp, postgresUp] = await Promise.all([requireService("redis"), requireService("postgres")]);

interface Setup {
  store: "redis" | "postgres";
  up: boolean;
  env: Record<string, string>;
  /** Add the user so that both instances know it; returns the two DATA_DIRs. */
  prepare(email: string): Promise<[string, string]>;
}

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "sk-multi-"));
  tempDirs.push(dir);
  return dir;
}

const setups: Setup[] = [
  {
    store: "redis",
    up: redisUp,
    env: { SESSION_STORE: "redis", REDIS_URL },
    async prepare(email) {
      const [a, b] = await Promise.all([tempDir(), tempDir()]);
      await addUserCli({ DATA_DIR: a }, email, PASSWORD);
      // Same user (same id) in B's own SQLite: copy A's database before either server opens it.
      for (const name of await readdir(a)) {
        if (name.startsWith("app.db")) await copyFile(path.join(a, name), path.join(b, name));
      }
      return [a, b];
    },
  },
  {
    store: "postgres",
    up: postgresUp,
    env: { SESSION_STORE: "postgres", DATABASE_URL },
    async prepare(email) {
      const [a, b] = await Promise.all([tempDir(), tempDir()]);
      await addUserCli({ DATA_DIR: a, DATABASE_URL }, email, PASSWORD);
      return [a, b];
    },
  },
];

afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

for (const setup of setups) {
  describe.skipIf(!setup.up)(`two app processes on one ${setup.store} session store`, { timeout: 30_000 }, () => {
    const email = `multi-${setup.store}-${randomBytes(4).toString("hex")}@example.com`;
    let a: AppProcess | undefined;
    let b: AppProcess | undefined;

    beforeAll(async () => {
      const [dirA, dirB] = await setup.prepare(email);
      const env = { ...setup.env, SESSION_KEYS };
      const started = await Promise.allSettled([startAppProcess({ ...env, DATA_DIR: dirA }), startAppProcess({ ...env, DATA_DIR: dirB })]);
      [a, b] = started.map((result) => (result.status === "fulfilled" ? result.value : undefined));
      const failed = started.find((result) => result.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }, 60_000);

    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it("log in on A, use the cookie on B, log out on B: A rejects the cookie at once", async () => {
      if (!a || !b) throw new Error("instances not started");
      expect(a.url).not.toBe(b.url);

      const login = await api(a.url, "POST", "/login", undefined, { email, password: PASSWORD });
      expect(login.status).toBe(200);
      const cookie = cookieFrom(login);
      expect(cookie).toMatch(/sessionkit\.sid=/);

      const onA = await api(a.url, "GET", "/dashboard", cookie);
      expect(onA.status).toBe(200);
      const { userId } = (await onA.json()) as { userId: string };
      expect(userId).toMatch(/\S/);

      const onB = await api(b.url, "GET", "/dashboard", cookie);
      expect(onB.status).toBe(200);
      expect(await onB.json()).toEqual({ userId });

      // B sees the session A created in its list, too.
      const sessions = await api(b.url, "GET", "/account/sessions", cookie);
      expect(sessions.status).toBe(200);
      const list = ((await sessions.json()) as { sessions: { current: boolean }[] }).sessions;
      expect(list.filter((entry) => entry.current)).toHaveLength(1);

      const logout = await api(b.url, "POST", "/logout", cookie, {});
      expect(logout.status).toBe(200);

      const afterOnA = await api(a.url, "GET", "/dashboard", cookie);
      expect(afterOnA.status).toBe(401);
      expect(afterOnA.headers.get("cache-control")).toBe("no-store");
      const afterOnB = await api(b.url, "GET", "/dashboard", cookie);
      expect(afterOnB.status).toBe(401);

      // Both processes are still healthy, and a fresh login on B works on A.
      const again = await api(b.url, "POST", "/login", undefined, { email, password: PASSWORD });
      expect(again.status).toBe(200);
      const second = await api(a.url, "GET", "/dashboard", cookieFrom(again));
      expect(await second.json()).toEqual({ userId });
    });
  });
}
