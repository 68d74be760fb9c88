/** Build the reference app in-process with a temporary DATA_DIR (not a test file itself). */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import request, { type Response } from "supertest";
import { createApp, type AppHandle } from "../../app/app.js";
import { parseConfig, type AppConfig } from "../../app/config.js";
import { hashPassword } from "../../src/auth/index.js";
import { parseSetCookies, type ParsedCookie } from "../helpers/set-cookie.js";

export const TEST_KEY = "test-key-0123456789abcdef0123456789abcdef";
export const COOKIE = "sessionkit.sid";

export interface TestApp {
  handle: AppHandle;
  config: AppConfig;
  dataDir: string;
  /** A fresh cookie-keeping client (one browser). */
  agent(): ReturnType<typeof request.agent>;
  /** A client with no cookie jar. */
  http(): ReturnType<typeof request>;
  addUser(email?: string, password?: string, role?: string): Promise<{ id: string; email: string; password: string }>;
  close(): Promise<void>;
}

export async function startTestApp(env: Record<string, string> = {}, overrides: Partial<AppConfig> = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "sk-app-"));
  const config: AppConfig = {
    ...parseConfig({ DATA_DIR: dataDir, SESSION_STORE: "memory", SESSION_KEYS: TEST_KEY, LOG_LEVEL: "silent", ...env }),
    seedDemoUser: false,
    ...overrides,
  };
  const handle = await createApp(config, {
    logger: pino({ level: "silent" }),
    // Shared Redis/PostgreSQL throttle counters must not carry over between runs.
    throttleKeyPrefix: `test:${randomBytes(6).toString("hex")}:`,
  });
  const callback = handle.app.callback();
  const added: string[] = [];
  return {
    handle,
    config,
    dataDir,
    agent: () => request.agent(callback),
    http: () => request(callback),
    async addUser(email = `user-${randomBytes(6).toString("hex")}@example.com`, password = "correct horse battery", role = "user") {
      const user = await handle.users.create({ email, passwordHash: await hashPassword(password), role });
      added.push(user.id);
      return { id: user.id, email: user.email, password };
    },
    async close() {
      await handle.close();
      await rm(dataDir, { recursive: true, force: true });
      if (config.databaseUrl !== undefined) await deletePostgresUsers(config.databaseUrl, added);
    },
  };
}

/** Users in PostgreSQL outlive the temporary DATA_DIR: remove the ones a test added from the shared database. */
async function deletePostgresUsers(connectionString: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("DELETE FROM app_users WHERE id = ANY($1::text[])", [ids]);
  } finally {
    await client.end();
  }
}

export { parseSetCookies as setCookies, type ParsedCookie } from "../helpers/set-cookie.js";

export function sessionCookie(res: Response): ParsedCookie | undefined {
  return parseSetCookies(res).find((c) => c.name === COOKIE);
}

/** A Cookie request header replaying what a response set. */
export function cookieHeader(res: Response): string {
  return parseSetCookies(res)
    .filter((c) => c.value !== "")
    .map((c) => `${c.name}=${c.value}`)
    .join("; ");
}

export function isExpiredCookie(c: ParsedCookie | undefined): boolean {
  const expires = c?.attrs.expires;
  return c !== undefined && c.value === "" && typeof expires === "string" && Date.parse(expires) <= Date.now();
}

/** The hidden _csrf value of an HTML page. */
export function csrfFrom(htmlText: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(htmlText);
  if (!match?.[1]) throw new Error("no _csrf field in the page");
  return match[1];
}

export async function loginJson(
  agent: ReturnType<typeof request.agent> | ReturnType<typeof request>,
  email: string,
  password: string,
  userAgent = "vitest",
): Promise<Response> {
  return agent.post("/login").set("Accept", "application/json").set("User-Agent", userAgent).send({ email, password });
}
