/**
 * The login lock survives a restart. With SQLite sessions the throttle's counters live in the same
 * SQLite database (DATA_DIR/app.db); with memory sessions too, since the users are there anyway: a
 * restart forgets the sessions, never a lockout. 10 failures, a new app instance on the same
 * DATA_DIR, and the right password still gets 429.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import request from "supertest";
import { afterAll, describe, expect, it } from "vitest";
import { createApp, type AppHandle } from "../../app/app.js";
import { parseConfig } from "../../app/config.js";
import { hashPassword } from "../../src/auth/index.js";
import { TEST_KEY } from "./helpers.js";

const EMAIL = "locked@example.com";
const PASSWORD = "correct horse battery";
const dirs: string[] = [];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function boot(dataDir: string, sessionStore: string): Promise<AppHandle> {
  const config = { ...parseConfig({ DATA_DIR: dataDir, SESSION_STORE: sessionStore, SESSION_KEYS: TEST_KEY, LOG_LEVEL: "silent" }), seedDemoUser: false };
  return createApp(config, { logger: pino({ level: "silent" }) });
}

const attempt = (handle: AppHandle, password: string) =>
  request(handle.app.callback()).post("/login").set("Accept", "application/json").send({ email: EMAIL, password });

describe.each(["sqlite", "memory"])("SESSION_STORE=%s: a lockout survives a restart", (sessionStore) => {
  it("10 failures, restart on the same DATA_DIR, the right password is still refused with 429", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "sk-lock-"));
    dirs.push(dataDir);
    const first = await boot(dataDir, sessionStore);
    try {
      await first.users.create({ email: EMAIL, passwordHash: await hashPassword(PASSWORD), role: "user" });
      for (let i = 0; i < 10; i++) expect((await attempt(first, "wrong password")).status).toBe(401);
      expect((await attempt(first, PASSWORD)).status).toBe(429);
    } finally {
      await first.close();
    }

    const second = await boot(dataDir, sessionStore);
    try {
      const locked = await attempt(second, PASSWORD);
      expect(locked.status).toBe(429);
      expect(Number(locked.headers["retry-after"])).toBeGreaterThan(800);
    } finally {
      await second.close();
    }
  });
});
