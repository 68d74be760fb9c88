/** app/config.ts: parsing, validation and generated keys, without spawning a process. */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../../app/config.js";
import { setCookies, startTestApp, TEST_KEY } from "./helpers.js";

describe("app config", () => {
  it("has safe defaults", () => {
    const config = parseConfig({});
    expect(config).toMatchObject({ port: 3000, host: "127.0.0.1", sessionStore: "sqlite", logLevel: "info", secureCookies: false, trustProxy: false });
    expect(config.dataDir).toBe(path.resolve("data"));
    expect(parseConfig({ NODE_ENV: "production", SESSION_KEYS: TEST_KEY }).secureCookies).toBe(true);
  });

  it.each([
    [{ SESSION_STORE: "mongo" }, /SESSION_STORE must be one of sqlite, memory, redis, postgres/],
    [{ SESSION_KEYS: "short" }, /at least 32/],
    [{ SESSION_STORE: "postgres" }, /DATABASE_URL/],
    [{ DATABASE_URL: "mysql://x" }, /DATABASE_URL must start with postgres:/],
    [{ REDIS_URL: "not a url" }, /REDIS_URL is not a valid URL/],
    [{ LOG_LEVEL: "loud" }, /LOG_LEVEL must be one of/],
    [{ PORT: "70000" }, /PORT must be/],
    [{ SECURE_COOKIES: "maybe" }, /SECURE_COOKIES must be true or false/],
  ])("rejects %o", (env, message) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(message);
  });

  it("splits SESSION_KEYS on commas (the first signs)", () => {
    const second = "another-key-abcdefghijklmnopqrstuvwxyz012345";
    expect(parseConfig({ SESSION_KEYS: ` ${TEST_KEY} , ${second}` }).sessionKeys).toEqual([TEST_KEY, second]);
  });

  it("generates keys into DATA_DIR/keys (0600) once, and refuses to in production", async () => {
    const dataDir = path.join(await mkdtemp(path.join(tmpdir(), "sk-app-cfg-")), "nested");
    try {
      const notices: string[] = [];
      const first = loadConfig({ DATA_DIR: dataDir }, { notice: (m) => notices.push(m) });
      const second = loadConfig({ DATA_DIR: dataDir }, { notice: (m) => notices.push(m) });
      expect(first.sessionKeys).toEqual(second.sessionKeys);
      expect(Buffer.byteLength(first.sessionKeys[0] ?? "")).toBeGreaterThanOrEqual(32);
      expect((await stat(path.join(dataDir, "keys"))).mode & 0o777).toBe(0o600);
      expect((await readFile(path.join(dataDir, "keys"), "utf8")).trim()).toBe(first.sessionKeys[0]);
      expect(notices[0]).toMatch(/generated session keys/);
      expect(notices[1]).toMatch(/using session keys from/);
      expect(() => loadConfig({ DATA_DIR: dataDir, NODE_ENV: "production" })).toThrow(/SESSION_KEYS is required/);
    } finally {
      await rm(path.dirname(dataDir), { recursive: true, force: true });
    }
  });

  it("SECURE_COOKIES names the cookie __Host-sid and marks it Secure", async () => {
    const t = await startTestApp({ SECURE_COOKIES: "true", TRUST_PROXY: "true" });
    try {
      const res = await t.http().get("/login").set("X-Forwarded-Proto", "https");
      const cookie = setCookies(res).find((c) => c.name === "__Host-sid");
      expect(cookie?.value).toBeTruthy();
      expect(cookie?.attrs.secure).toBe(true);
      expect(cookie?.attrs.path).toBe("/");
    } finally {
      await t.close();
    }
  });
});
