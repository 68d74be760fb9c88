/** app/config.ts: parsing, validation and generated keys, without spawning a process. */
import fs from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../../app/config.js";
import { loginJson, setCookies, startTestApp, TEST_KEY, type TestApp } from "./helpers.js";

describe("app config", () => {
  it("has safe defaults", () => {
    const config = parseConfig({});
    expect(config).toMatchObject({ port: 3000, host: "127.0.0.1", sessionStore: "sqlite", logLevel: "info", secureCookies: undefined, trustProxy: 0 });
    expect(config.dataDir).toBe(path.resolve("data"));
    expect(config.sessionPrune).toBe(true);
    expect(parseConfig({ SESSION_PRUNE: "false" }).sessionPrune).toBe(false);
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
    [{ BREACHED_PASSWORD_CHECK: "maybe" }, /BREACHED_PASSWORD_CHECK must be off or hibp/],
    [{ BREACHED_PASSWORD_URL: "https://mirror.example/range/" }, /BREACHED_PASSWORD_CHECK is off; set BREACHED_PASSWORD_CHECK=hibp/],
    [{ BREACHED_PASSWORD_CHECK: "hibp", BREACHED_PASSWORD_URL: "ftp://x/" }, /BREACHED_PASSWORD_URL must start with https:\/\/ or http:\/\//],
    [{ SESSION_IDLE_TIMEOUT: "soon" }, /SESSION_IDLE_TIMEOUT must be a duration such as 90s/],
    [{ SESSION_IDLE_TIMEOUT: "0" }, /SESSION_IDLE_TIMEOUT must be a duration/],
    [{ SESSION_ABSOLUTE_TIMEOUT: "-5m" }, /SESSION_ABSOLUTE_TIMEOUT must be a duration/],
    [{ SESSION_IDLE_TIMEOUT: "2d", SESSION_ABSOLUTE_TIMEOUT: "1d" }, /longer than SESSION_ABSOLUTE_TIMEOUT/],
    [{ SESSION_STORE: "redis" }, /needs REDIS_URL, .*or REDIS_SENTINELS/],
    [{ REDIS_SENTINELS: "10.0.0.5:26379" }, /REDIS_SENTINELS needs REDIS_SENTINEL_NAME/],
    [{ REDIS_SENTINEL_NAME: "mymaster" }, /REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not/],
    [{ REDIS_SENTINELS: "10.0.0.5", REDIS_SENTINEL_NAME: "m" }, /comma-separated list of host:port .*got "10.0.0.5"/],
    [{ REDIS_SENTINELS: "a:1,b:99999", REDIS_SENTINEL_NAME: "m" }, /got "b:99999"/],
    [{ REDIS_SENTINELS: "a:1,,b:2", REDIS_SENTINEL_NAME: "m" }, /got ""/],
    [{ REDIS_SENTINELS: "a:1", REDIS_SENTINEL_NAME: "m", REDIS_URL: "redis://x:6379" }, /either REDIS_URL or REDIS_SENTINELS, not both/],
    [{ SHUTDOWN_DELAY: "a while" }, /SHUTDOWN_DELAY must be a duration/],
    [{ SESSION_PRUNE: "sometimes" }, /SESSION_PRUNE must be true or false/],
  ])("rejects %o", (env, message) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(message);
  });

  it("reads Redis Sentinel from REDIS_SENTINELS and REDIS_SENTINEL_NAME (IPv6 in brackets)", () => {
    const config = parseConfig({ SESSION_STORE: "redis", REDIS_SENTINELS: " 10.0.0.5:26379, sentinel-b:26380,[::1]:26381", REDIS_SENTINEL_NAME: "mymaster" });
    expect(config.redisSentinel).toEqual({
      name: "mymaster",
      sentinels: [
        { host: "10.0.0.5", port: 26379 },
        { host: "sentinel-b", port: 26380 },
        { host: "::1", port: 26381 },
      ],
    });
    expect(config.redisUrl).toBeUndefined();
    expect(parseConfig({ SESSION_STORE: "redis", REDIS_URL: "redis://127.0.0.1:6379" }).redisSentinel).toBeUndefined();
  });

  it("reads the idle and absolute timeouts as durations (default 30m and 12h)", () => {
    expect(parseConfig({})).toMatchObject({ idleTimeoutMs: 1_800_000, absoluteTimeoutMs: 43_200_000 });
    expect(parseConfig({ SESSION_IDLE_TIMEOUT: "90", SESSION_ABSOLUTE_TIMEOUT: "7d" })).toMatchObject({
      idleTimeoutMs: 90_000,
      absoluteTimeoutMs: 604_800_000,
    });
    expect(parseConfig({ SESSION_IDLE_TIMEOUT: "15M", SESSION_ABSOLUTE_TIMEOUT: "1h" })).toMatchObject({ idleTimeoutMs: 900_000, absoluteTimeoutMs: 3_600_000 });
  });

  it("reads SHUTDOWN_DELAY as a duration, default 0 (stop accepting at once)", () => {
    expect(parseConfig({}).shutdownDelayMs).toBe(0);
    expect(parseConfig({ SHUTDOWN_DELAY: "0" }).shutdownDelayMs).toBe(0);
    expect(parseConfig({ SHUTDOWN_DELAY: "15s" }).shutdownDelayMs).toBe(15_000);
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

  it("a key file that could not be written (disk full) is not left behind empty to block the next start", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "sk-app-cfg-"));
    const write = fs.writeFileSync.bind(fs);
    // What a full disk does: the file is created (open succeeds), the bytes are not written.
    const full = vi.spyOn(fs, "writeFileSync").mockImplementation((target, _data, options) => {
      write(target, "", options);
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    });
    try {
      expect(() => loadConfig({ DATA_DIR: dataDir }, { notice: () => {} })).toThrow(/could not be written: ENOSPC/);
      expect(fs.existsSync(path.join(dataDir, "keys"))).toBe(false);
      full.mockRestore();
      // Room again: the next start generates the key as a first start does.
      expect(Buffer.byteLength(loadConfig({ DATA_DIR: dataDir }, { notice: () => {} }).sessionKeys[0] ?? "")).toBeGreaterThanOrEqual(32);
    } finally {
      full.mockRestore();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("SESSION_IDLE_TIMEOUT and SESSION_ABSOLUTE_TIMEOUT reach the running app", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const t0 = Date.UTC(2030, 0, 1);
    vi.setSystemTime(t0);
    const t = await startTestApp({ SESSION_IDLE_TIMEOUT: "1m", SESSION_ABSOLUTE_TIMEOUT: "3m" });
    try {
      const user = await t.addUser();
      const agent = t.agent();
      expect((await loginJson(agent, user.email, user.password)).body).toEqual({ ok: true });
      // Active every 50 s: the idle timeout never fires, the absolute one does at 3 minutes.
      for (const at of [50, 100, 150]) {
        vi.setSystemTime(t0 + at * 1000);
        expect((await agent.get("/dashboard").set("Accept", "application/json")).body).toEqual({ userId: user.id });
      }
      vi.setSystemTime(t0 + 181_000);
      const late = await agent.get("/dashboard").set("Accept", "application/json");
      expect(late.status).toBe(401);
      expect(late.body).toEqual({ error: "Not authenticated" });

      // A second login, then 61 s without a request: the idle timeout ends it.
      expect((await loginJson(agent, user.email, user.password)).body).toEqual({ ok: true });
      vi.setSystemTime(t0 + 242_001);
      expect((await agent.get("/dashboard").set("Accept", "application/json")).status).toBe(401);
    } finally {
      await t.close();
      vi.useRealTimers();
    }
  });

  it("unset SECURE_COOKIES: Secure exactly on HTTPS, which X-Forwarded-Proto proves only with TRUST_PROXY", async () => {
    const secureFlag = async (t: TestApp, proto?: string) => {
      const req = t.http().get("/login");
      const res = await (proto ? req.set("X-Forwarded-Proto", proto) : req);
      // The login page's cookie is the form's sealed CSRF secret, set with the session cookie's attributes.
      const cookie = setCookies(res).find((c) => c.name === "sessionkit.sid.csrf");
      expect(cookie?.value).toBeTruthy();
      return cookie?.attrs.secure === true;
    };
    const proxied = await startTestApp({ TRUST_PROXY: "1" });
    const direct = await startTestApp({});
    const forcedOff = await startTestApp({ TRUST_PROXY: "1", SECURE_COOKIES: "false" });
    try {
      expect(await secureFlag(proxied, "https")).toBe(true);
      expect(await secureFlag(proxied, "http")).toBe(false);
      expect(await secureFlag(proxied)).toBe(false);
      // Without TRUST_PROXY the header is anyone's to send: not proof of HTTPS.
      expect(await secureFlag(direct, "https")).toBe(false);
      expect(await secureFlag(forcedOff, "https")).toBe(false);
    } finally {
      await Promise.all([proxied.close(), direct.close(), forcedOff.close()]);
    }
  });

  it("TRUST_PROXY: the client's address is what the proxy appended to X-Forwarded-For, not what the client sent", async () => {
    // nginx's $proxy_add_x_forwarded_for keeps the client's header and appends the real address.
    const viaProxy = (client: string) => `${client}, 198.51.100.7`;
    const one = await startTestApp({ TRUST_PROXY: "1" });
    const two = await startTestApp({ TRUST_PROXY: "2" });
    try {
      const { email, password } = await one.addUser();
      const agent = one.agent();
      expect((await loginJson(agent.set("X-Forwarded-For", viaProxy("203.0.113.66")), email, password)).status).toBe(200);
      const { sessions } = (await agent.get("/account/sessions").set("Accept", "application/json").expect(200)).body as { sessions: { ip?: string }[] };
      expect(sessions.map((entry) => entry.ip)).toEqual(["198.51.100.7"]);

      // Two proxies (a CDN, then nginx): the address the first one appended.
      const user = await two.addUser();
      const behindTwo = two.agent();
      expect((await loginJson(behindTwo.set("X-Forwarded-For", "203.0.113.66, 192.0.2.10, 10.0.0.2"), user.email, user.password)).status).toBe(200);
      const listed = (await behindTwo.get("/account/sessions").set("Accept", "application/json").expect(200)).body as { sessions: { ip?: string }[] };
      expect(listed.sessions.map((entry) => entry.ip)).toEqual(["192.0.2.10"]);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
    expect(() => parseConfig({ TRUST_PROXY: "11" })).toThrow(/TRUST_PROXY is the number of proxies/);
    expect(() => parseConfig({ TRUST_PROXY: "maybe" })).toThrow(/TRUST_PROXY must be true or false/);
  });

  it("SECURE_COOKIES names the cookie __Host-sid and marks it Secure", async () => {
    const t = await startTestApp({ SECURE_COOKIES: "true", TRUST_PROXY: "true" });
    try {
      const res = await t.http().get("/login").set("X-Forwarded-Proto", "https");
      // The login page's sealed CSRF cookie takes the session cookie's name as its prefix, so __Host- too.
      const cookie = setCookies(res).find((c) => c.name === "__Host-sid.csrf");
      expect(cookie?.value).toBeTruthy();
      expect(cookie?.attrs.secure).toBe(true);
      expect(cookie?.attrs.path).toBe("/");
      expect(cookie?.attrs.domain).toBeUndefined();
      const user = await t.addUser();
      const login = await t.http().post("/login").set("X-Forwarded-Proto", "https").send({ email: user.email, password: user.password });
      const session = setCookies(login).find((c) => c.name === "__Host-sid");
      expect(session?.value).toBeTruthy();
      expect(session?.attrs.secure).toBe(true);
      expect(session?.attrs.path).toBe("/");
    } finally {
      await t.close();
    }
  });
});
