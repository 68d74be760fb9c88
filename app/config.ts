/**
 * Configuration of the reference app, read from the environment once at start-up and validated.
 * Anything wrong is a ConfigError with one plain sentence; server.ts prints it and exits 1.
 *
 * | variable        | default                    | meaning                                                     |
 * |-----------------|----------------------------|-------------------------------------------------------------|
 * | PORT            | 3000                       | TCP port                                                    |
 * | HOST            | 127.0.0.1                  | interface to listen on                                      |
 * | DATA_DIR        | ./data                     | SQLite database and generated keys                          |
 * | SESSION_KEYS    | generated into DATA_DIR/keys | comma-separated signing keys, each at least 32 bytes; the first signs |
 * | SESSION_STORE   | sqlite                     | sqlite, memory, redis or postgres                           |
 * | REDIS_URL       | (none)                     | SESSION_STORE=redis needs it or REDIS_SENTINELS             |
 * | REDIS_SENTINELS | (none)                     | instead of REDIS_URL: Redis Sentinel, host:port,host:port…  |
 * | REDIS_SENTINEL_NAME | (none)                 | the master group the sentinels monitor; required with REDIS_SENTINELS |
 * | DATABASE_URL    | (none)                     | PostgreSQL; when set, users live there too                  |
 * | LOG_LEVEL       | info                       | pino level: fatal, error, warn, info, debug, trace, silent  |
 * | SECURE_COOKIES  | true when NODE_ENV=production, else unset | true: always Secure (the name becomes __Host-sid); false: never; unset: Secure exactly on HTTPS requests (X-Forwarded-Proto counts with TRUST_PROXY) |
 * | TRUST_PROXY     | false                      | trust X-Forwarded-* from this many proxies in front (true = 1); the client's address is the one the nearest proxy appended to X-Forwarded-For, never a value the client sent |
 * | BREACHED_PASSWORD_CHECK  | off               | "hibp": refuse new passwords found in Pwned Passwords (k-anonymity: 5 hex chars of SHA-1 are sent) |
 * | BREACHED_PASSWORD_URL    | api.pwnedpasswords.com/range/ | the range endpoint (a mirror or proxy), with the check on |
 * | SESSION_IDLE_TIMEOUT     | 30m               | sign out after this long without a request (s, m, h or d)  |
 * | SESSION_ABSOLUTE_TIMEOUT | 12h               | sign out this long after login, however active              |
 * | SESSION_PRUNE            | true              | delete expired sessions every 10 min (SQLite, PostgreSQL); with many instances, false on all but one |
 * | SHUTDOWN_DELAY           | 0                 | on SIGTERM, keep serving this long with /readyz at 503 so a load balancer drains the instance first |
 *
 * @example
 * const config = loadConfig(process.env); // throws ConfigError
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PWNED_PASSWORDS_RANGE_URL } from "../src/auth/breached.js";

export const SESSION_STORES = ["sqlite", "memory", "redis", "postgres"] as const;
export type SessionStoreKind = (typeof SESSION_STORES)[number];

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Same minimum as the library's keyring: an HMAC-SHA256 key shorter than its output weakens it. */
export const MIN_KEY_BYTES = 32;

export interface AppConfig {
  port: number;
  host: string;
  dataDir: string;
  sessionKeys: string[];
  sessionStore: SessionStoreKind;
  redisUrl: string | undefined;
  /** Redis through Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_NAME), instead of redisUrl. */
  redisSentinel: { sentinels: { host: string; port: number }[]; name: string } | undefined;
  databaseUrl: string | undefined;
  logLevel: LogLevel;
  /** true/false force the cookie's Secure flag; undefined leaves it to the request (HTTPS, honouring trustProxy). */
  secureCookies: boolean | undefined;
  /** How many proxies in front add X-Forwarded-For (0: headers not trusted). */
  trustProxy: number;
  /** Pwned Passwords range endpoint for new passwords; undefined when the check is off. */
  breachedPasswordUrl: string | undefined;
  /** Sign out after this long without a request. */
  idleTimeoutMs: number;
  /** Sign out this long after login, however active the session is. */
  absoluteTimeoutMs: number;
  /** On SIGTERM, keep accepting this long while /readyz answers 503, then stop. */
  shutdownDelayMs: number;
  /** This instance deletes expired sessions on a timer (SQLite, PostgreSQL stores). */
  sessionPrune: boolean;
  /** Create demo@example.com with a random password when there are no users. */
  seedDemoUser: boolean;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Env = Record<string, string | undefined>;

export interface LoadConfigOptions {
  /** Where to say that keys were generated. Default: stderr. */
  notice?: (message: string) => void;
}

/** Parse and validate the environment; creates DATA_DIR (and DATA_DIR/keys when no SESSION_KEYS). */
export function loadConfig(env: Env, options: LoadConfigOptions = {}): AppConfig {
  const config = parseConfig(env);
  if (config.sessionKeys.length === 0) {
    if (env.NODE_ENV === "production") {
      throw new ConfigError(
        'SESSION_KEYS is required when NODE_ENV=production; generate keys with "npm run --silent keys" (in this repository; "npx koa-sessionkit keys" where the package is installed) and set SESSION_KEYS=key1,key2',
      );
    }
    const file = path.join(config.dataDir, "keys");
    const { keys, created } = readOrCreateKeyFile(file);
    config.sessionKeys = keys;
    const notice = options.notice ?? ((message: string) => process.stderr.write(`${message}\n`));
    notice(
      created
        ? `No SESSION_KEYS set: generated session keys into ${file} (mode 0600). Set SESSION_KEYS in production.`
        : `No SESSION_KEYS set: using session keys from ${file}. Set SESSION_KEYS in production.`,
    );
  }
  return config;
}

/** Parse and validate without touching the file system (SESSION_KEYS may come back empty). */
export function parseConfig(env: Env): AppConfig {
  const port = parsePort(env.PORT);
  const host = nonEmpty(env.HOST) ?? "127.0.0.1";
  const dataDir = path.resolve(nonEmpty(env.DATA_DIR) ?? "data");

  const storeInput = (nonEmpty(env.SESSION_STORE) ?? "sqlite").toLowerCase();
  if (!(SESSION_STORES as readonly string[]).includes(storeInput)) {
    throw new ConfigError(`SESSION_STORE must be one of ${SESSION_STORES.join(", ")}; got ${JSON.stringify(env.SESSION_STORE)}`);
  }
  const sessionStore = storeInput as SessionStoreKind;

  const redisUrl = nonEmpty(env.REDIS_URL);
  if (redisUrl !== undefined) checkUrl("REDIS_URL", redisUrl, ["redis:", "rediss:"]);
  const redisSentinel = parseSentinels(env);
  if (redisUrl !== undefined && redisSentinel !== undefined) {
    throw new ConfigError("set either REDIS_URL or REDIS_SENTINELS, not both: with Sentinel the sentinels say where Redis is");
  }
  if (sessionStore === "redis" && redisUrl === undefined && redisSentinel === undefined) {
    throw new ConfigError(
      "SESSION_STORE=redis needs REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379 (or REDIS_SENTINELS=host:port,… with REDIS_SENTINEL_NAME)",
    );
  }

  const databaseUrl = nonEmpty(env.DATABASE_URL);
  if (databaseUrl !== undefined) checkUrl("DATABASE_URL", databaseUrl, ["postgres:", "postgresql:"]);
  if (sessionStore === "postgres" && databaseUrl === undefined) {
    throw new ConfigError("SESSION_STORE=postgres needs DATABASE_URL, e.g. DATABASE_URL=postgres://user@127.0.0.1:5432/app");
  }

  const levelInput = (nonEmpty(env.LOG_LEVEL) ?? "info").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(levelInput)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}; got ${JSON.stringify(env.LOG_LEVEL)}`);
  }

  return {
    port,
    host,
    dataDir,
    sessionKeys: parseKeys(env.SESSION_KEYS),
    sessionStore,
    redisUrl,
    redisSentinel,
    databaseUrl,
    logLevel: levelInput as LogLevel,
    secureCookies: parseBoolean("SECURE_COOKIES", env.SECURE_COOKIES) ?? (env.NODE_ENV === "production" ? true : undefined),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    breachedPasswordUrl: parseBreachCheck(env),
    ...parseTimeouts(env),
    // "0" (the default) stops accepting at once; a drain needs at least a second to be noticed.
    shutdownDelayMs: nonEmpty(env.SHUTDOWN_DELAY) === "0" ? 0 : parseDuration("SHUTDOWN_DELAY", env.SHUTDOWN_DELAY, 0),
    sessionPrune: parseBoolean("SESSION_PRUNE", env.SESSION_PRUNE) ?? true,
    seedDemoUser: true,
  };
}

/** REDIS_SENTINELS=host:port,… ([v6]:port for IPv6 addresses) and REDIS_SENTINEL_NAME, both or neither. */
function parseSentinels(env: Env): AppConfig["redisSentinel"] {
  const list = nonEmpty(env.REDIS_SENTINELS);
  const name = nonEmpty(env.REDIS_SENTINEL_NAME);
  if (list === undefined) {
    if (name !== undefined) throw new ConfigError("REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not; set REDIS_SENTINELS=host:port,… too");
    return undefined;
  }
  if (name === undefined) {
    throw new ConfigError("REDIS_SENTINELS needs REDIS_SENTINEL_NAME, the master group the sentinels monitor (e.g. REDIS_SENTINEL_NAME=mymaster)");
  }
  const sentinels = list.split(",").map((entry) => {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(entry.trim());
    const port = Number(match?.[3]);
    if (!match || !(port >= 1 && port <= 65535)) {
      throw new ConfigError(`REDIS_SENTINELS must be a comma-separated list of host:port (e.g. 10.0.0.5:26379,10.0.0.6:26379); got ${JSON.stringify(entry)}`);
    }
    return { host: (match[1] ?? match[2]) as string, port };
  });
  return { sentinels, name };
}

/** Off by default: it calls a third-party service, which a deployment must choose to allow. */
function parseBreachCheck(env: Env): string | undefined {
  const mode = (nonEmpty(env.BREACHED_PASSWORD_CHECK) ?? "off").toLowerCase();
  if (mode !== "off" && mode !== "hibp") {
    throw new ConfigError(`BREACHED_PASSWORD_CHECK must be off or hibp; got ${JSON.stringify(env.BREACHED_PASSWORD_CHECK)}`);
  }
  const url = nonEmpty(env.BREACHED_PASSWORD_URL);
  if (url !== undefined) checkUrl("BREACHED_PASSWORD_URL", url, ["https:", "http:"]);
  if (mode === "off") {
    if (url !== undefined) throw new ConfigError("BREACHED_PASSWORD_URL is set but BREACHED_PASSWORD_CHECK is off; set BREACHED_PASSWORD_CHECK=hibp or remove the URL");
    return undefined;
  }
  return url ?? PWNED_PASSWORDS_RANGE_URL;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90", "90s", "30m", "12h", "7d": a whole number of seconds, minutes, hours or days. */
function parseDuration(name: string, value: string | undefined, fallbackMs: number): number {
  const text = nonEmpty(value)?.toLowerCase();
  if (text === undefined) return fallbackMs;
  const match = /^(\d{1,9})([smhd]?)$/.exec(text);
  const ms = match ? Number(match[1]) * (UNIT_MS[match[2] || "s"] as number) : 0;
  if (!(ms >= 1000)) throw new ConfigError(`${name} must be a duration such as 90s, 30m, 12h or 7d; got ${JSON.stringify(value)}`);
  return ms;
}

function parseTimeouts(env: Env): { idleTimeoutMs: number; absoluteTimeoutMs: number } {
  const idleTimeoutMs = parseDuration("SESSION_IDLE_TIMEOUT", env.SESSION_IDLE_TIMEOUT, 30 * 60 * 1000);
  const absoluteTimeoutMs = parseDuration("SESSION_ABSOLUTE_TIMEOUT", env.SESSION_ABSOLUTE_TIMEOUT, 12 * 60 * 60 * 1000);
  if (idleTimeoutMs > absoluteTimeoutMs) {
    throw new ConfigError(
      `SESSION_IDLE_TIMEOUT (${idleTimeoutMs / 1000}s) is longer than SESSION_ABSOLUTE_TIMEOUT (${absoluteTimeoutMs / 1000}s), so it would never apply; shorten it or raise the absolute timeout`,
    );
  }
  return { idleTimeoutMs, absoluteTimeoutMs };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function parsePort(value: string | undefined): number {
  const text = nonEmpty(value);
  if (text === undefined) return 3000;
  const port = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`PORT must be an integer from 0 to 65535; got ${JSON.stringify(value)}`);
  }
  return port;
}

function parseBoolean(name: string, value: string | undefined): boolean | undefined {
  const text = nonEmpty(value)?.toLowerCase();
  if (text === undefined) return undefined;
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw new ConfigError(`${name} must be true or false; got ${JSON.stringify(value)}`);
}

/**
 * TRUST_PROXY: true (one proxy) or the number of proxies in front. Koa then takes the client's
 * address from that many entries at the right of X-Forwarded-For, which the proxies appended; with
 * Koa's default (every entry) the leftmost one, which the client can write itself, would be ctx.ip.
 */
function parseTrustProxy(value: string | undefined): number {
  const text = nonEmpty(value)?.toLowerCase();
  if (text !== undefined && /^\d+$/.test(text) && Number(text) <= 10) return Number(text);
  if (text !== undefined && /^\d+$/.test(text)) throw new ConfigError(`TRUST_PROXY is the number of proxies in front of the app (1 to 10) or true/false; got ${JSON.stringify(value)}`);
  const on = parseBoolean("TRUST_PROXY", value);
  return on ? 1 : 0;
}

function checkUrl(name: string, value: string, protocols: string[]): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a valid URL; expected ${protocols[0]}//host:port/...`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.map((p) => `${p}//`).join(" or ")}; got ${url.protocol}//...`);
  }
}

function parseKeys(value: string | undefined): string[] {
  if (nonEmpty(value) === undefined) return [];
  const keys = (value as string).split(",").map((key) => key.trim());
  keys.forEach((key, index) => {
    const bytes = Buffer.byteLength(key, "utf8");
    if (bytes < MIN_KEY_BYTES) {
      // Never echo the key itself: it is a secret even when it is a bad one.
      throw new ConfigError(
        `SESSION_KEYS key ${index + 1} of ${keys.length} is ${bytes} bytes; each key needs at least ${MIN_KEY_BYTES} (generate keys with "npm run --silent keys")`,
      );
    }
  });
  return keys;
}

/** One key per line; created with mode 0600 so only the app's user can read it. */
function readOrCreateKeyFile(file: string): { keys: string[]; created: boolean } {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new ConfigError(`DATA_DIR ${path.dirname(file)} could not be created: ${(error as Error).message}`);
  }
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ConfigError(`session key file ${file} could not be read: ${(error as Error).message}`);
    }
  }
  if (text !== undefined) {
    const keys = text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
    if (keys.length === 0 || keys.some((key) => Buffer.byteLength(key) < MIN_KEY_BYTES)) {
      throw new ConfigError(`session key file ${file} holds a key shorter than ${MIN_KEY_BYTES} bytes; delete the file to regenerate it`);
    }
    return { keys, created: false };
  }
  const keys = [randomBytes(32).toString("base64url")];
  let fd: number | undefined;
  try {
    // "wx": never overwrite a file another process created in the meantime.
    fd = fs.openSync(file, "wx", 0o600);
    fs.writeFileSync(fd, `${keys.join("\n")}\n`);
    fs.closeSync(fd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return readOrCreateKeyFile(file);
    // Created but not written (a full disk): remove it, or every later start would find an empty
    // key file and refuse to start even once there is room again.
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed: the write finished and close failed; the file is removed all the same
      }
      fs.rmSync(file, { force: true });
    }
    throw new ConfigError(`session key file ${file} could not be written: ${(error as Error).message}`);
  }
  return { keys, created: true };
}
