/**
 * `loginThrottle`: slows password guessing two ways.
 *
 * - Per account: `accountLimit` (10) failures in a row within `windowSeconds` lock the account for
 *   `blockSeconds` (15 min): even the right password gets 429 until it ends. A success resets it.
 *   The key is the normalized email, whether or not such an account exists, so the response never
 *   tells an attacker which emails are registered.
 * - Per IP: `ipLimit` (100) failures within the window block the address (password spraying over
 *   many accounts). The IP is `ctx.ip`, which honours X-Forwarded-For only when `app.proxy` is set.
 *
 * `check` counts the attempt as it lets it through (atomically, in the counter store), so parallel
 * guesses can't all pass one look at the counter; `fail` keeps it counted, `succeed` clears the
 * account's count and refunds the IP's attempt. An attempt abandoned in between counts as a failure.
 *
 * Counters are rate-limiter-flexible limiters: in memory by default (one process); pass `redis` (an
 * ioredis client) or `pg` (a pg Pool; the table is created on first use) to share them between
 * instances, or `sqlite` (a better-sqlite3 database) to keep them across restarts of one process.
 * Store keys hold a hash of the email, never the email.
 *
 * `check` and `fail` draw on the request's store-time budget, shared with the session's own store
 * calls (stores/deadline.ts): a stalled counter store makes the attempt a 503 within `storeTimeout`,
 * and the session write after it gets only what is left. `succeed` holds nothing up: the reset runs
 * in the background with its own short bound.
 *
 * @example
 * import { loginThrottle, tooManyAttempts, verifyPassword, verifyDummy, login } from "koa-sessionkit/auth";
 * const throttle = loginThrottle({ redis });
 * router.post("/login", async (ctx) => {
 *   const { email, password } = ctx.request.body;
 *   const gate = await throttle.check(ctx, email);
 *   if (!gate.allowed) return tooManyAttempts(ctx, gate.retryAfterSeconds);
 *   const user = await users.findByEmail(email);
 *   const ok = user ? await verifyPassword(user.passwordHash, password) : await verifyDummy(password);
 *   if (!ok || !user) { await throttle.fail(ctx, email); ctx.status = 401; ctx.body = { error: "Invalid email or password" }; return; }
 *   await throttle.succeed(ctx, email);
 *   await login(ctx, { id: user.id });
 * });
 */
import type { Context } from "koa";
import { createHash } from "node:crypto";
import { debuglog } from "node:util";
import { callStore, storeCall } from "../stores/call.js";
import { auditEvent } from "../events.js";
import { ThrottleUnavailableError } from "./errors.js";
import { LimiterBackend, type Counter, type PgLike, type RedisLike, type SqliteLike, type Store } from "./throttle-backends.js";
import { SessionConfigError } from "../errors.js";
import { refuseNonObjectOptions } from "./misuse.js";

const debug = debuglog("koa-sessionkit:throttle");

/** The success bookkeeping's own bound: it runs after the response is decided, so keep it short. */
const RESET_TIMEOUT_MS = 1000;

export type { PgLike, RedisLike, SqliteLike } from "./throttle-backends.js";

/** Options of {@link loginThrottle}: at most one of redis, pg or sqlite (none: in memory). */
export interface LoginThrottleOptions {
  /** Share counters through Redis (an ioredis client). */
  redis?: RedisLike;
  /** Share counters through PostgreSQL (a pg Pool). */
  pg?: PgLike;
  /**
   * Keep counters in SQLite (a better-sqlite3 Database; the table is created on first use): one host,
   * but a lockout survives a restart, which the in-memory default forgets.
   */
  sqlite?: SqliteLike;
  /** Failures in a row that lock one account. Default 10. */
  accountLimit?: number;
  /** Failures from one IP (any accounts) that block it. Default 100. */
  ipLimit?: number;
  /** How long failures are remembered. Default 900 s. */
  windowSeconds?: number;
  /** How long a lockout lasts. Default 900 s. */
  blockSeconds?: number;
  /** Prefix of Redis keys / PostgreSQL rows. Default "sk:login:". */
  keyPrefix?: string;
  /** PostgreSQL or SQLite table. Default "sessionkit_login_limits". */
  tableName?: string;
  /**
   * Longest wait for the counter store, in ms, shared with the session's store calls of the same
   * request (use the session's `storeTimeout`). Default 3000, the session's default.
   */
  storeTimeout?: number;
}

/** The throttle's answer: go ahead, or wait `retryAfterSeconds` (answer with {@link tooManyAttempts}). */
export type ThrottleResult =
  | {
      /** The attempt may go ahead. */
      allowed: true;
    }
  | {
      /** The account or the IP is locked out. */
      allowed: false;
      /** Whole seconds until the lockout ends (at least 1), for Retry-After. */
      retryAfterSeconds: number;
    };

/** What {@link loginThrottle} returns: call check before the password check, then fail or succeed. */
export interface LoginThrottle {
  /**
   * Before checking the password: may this attempt go ahead? Counts it (settle it with fail or
   * succeed). Rejects with ThrottleUnavailableError (503) when the counters can't be reached.
   */
  check(ctx: Context, email: unknown): Promise<ThrottleResult>;
  /**
   * After a wrong password or unknown account. Resolves whether the next attempt is allowed; rejects
   * like check. Emits `auth.login_failed`, and `auth.lockout` when this failure locks the account or
   * the IP. Pass `{ userId }` when the account exists, so the audit events name it.
   */
  fail(ctx: Context, email: unknown, details?: { userId?: string }): Promise<ThrottleResult>;
  /**
   * After a successful login: forget the account's failures (the IP's stay). Resolves at once; the
   * reset runs in the background, bounded by min(storeTimeout, 1 s), and a failure only logs.
   */
  succeed(ctx: Context, email: unknown): Promise<void>;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new SessionConfigError(`loginThrottle({ ${name} }) must be a positive integer, got ${String(value)}`);
  return value;
}

/** One key per mailbox however it is typed: "  Alice@Example.COM " and "alice@example.com" count together. */
export function normalizeEmail(email: unknown): string {
  return (typeof email === "string" ? email : "").normalize("NFKC").trim().toLowerCase();
}

/**
 * Make a login throttle: per-account lockouts after `accountLimit` failures and per-IP blocks after
 * `ipLimit`, counted in memory or in Redis, PostgreSQL or SQLite. Make one at start-up and share it.
 * Accounts are keyed by the normalized email whether or not the account exists, so responses never
 * reveal which emails are registered.
 *
 * @throws SessionConfigError for a non-positive limit or more than one of redis/pg/sqlite.
 *
 * @example
 * const throttle = loginThrottle({ redis });
 * router.post("/login", async (ctx) => {
 *   const { email, password } = ctx.request.body;
 *   const gate = await throttle.check(ctx, email);
 *   if (!gate.allowed) return tooManyAttempts(ctx, gate.retryAfterSeconds);
 *   const user = await users.findByEmail(email);
 *   const ok = user ? await verifyPassword(user.passwordHash, password) : await verifyDummy(password);
 *   if (!ok || !user) { await throttle.fail(ctx, email, { userId: user?.id }); ctx.status = 401; return; }
 *   await throttle.succeed(ctx, email);
 *   await login(ctx, { id: user.id });
 * });
 */
export function loginThrottle(options: LoginThrottleOptions = {}): LoginThrottle {
  refuseNonObjectOptions("loginThrottle", options, "{ redis }");
  const accountLimit = positiveInteger("accountLimit", options.accountLimit, 10);
  const ipLimit = positiveInteger("ipLimit", options.ipLimit, 100);
  const windowMs = positiveInteger("windowSeconds", options.windowSeconds, 900) * 1000;
  const blockMs = positiveInteger("blockSeconds", options.blockSeconds, 900) * 1000;
  const prefix = options.keyPrefix ?? "sk:login:";
  const storeTimeout = positiveInteger("storeTimeout", options.storeTimeout, 3000);
  const resetTimeout = Math.min(storeTimeout, RESET_TIMEOUT_MS);
  if ([options.redis, options.pg, options.sqlite].filter(Boolean).length > 1) {
    throw new SessionConfigError("loginThrottle() takes one of redis, pg or sqlite, not several");
  }
  const tableName = options.tableName ?? "sessionkit_login_limits";
  const store: Store = options.redis
    ? { kind: "redis", client: options.redis }
    : options.pg
      ? { kind: "pg", pool: options.pg, tableName }
      : options.sqlite
        ? { kind: "sqlite", database: options.sqlite, tableName }
        : { kind: "memory" };
  // Two counter kinds with their own limits; rate-limiter-flexible keeps them apart by key prefix.
  const accounts = new LimiterBackend(store, { limit: accountLimit, windowMs, blockMs, keyPrefix: `${prefix}a` });
  const ips = new LimiterBackend(store, { limit: ipLimit, windowMs, blockMs, keyPrefix: `${prefix}ip` });

  const accountKey = (email: unknown): string => createHash("sha256").update(normalizeEmail(email)).digest("base64url");
  const ipKey = (ctx: Context): string => ctx.ip || "unknown";

  /** Refused when either counter is past `limit` (check) or at it (after a failure, which counts). */
  function verdict(account: Counter, ip: Counter, allowedUpTo: 0 | 1): ThrottleResult {
    let waitMs = 0;
    if (account.count >= accountLimit + allowedUpTo) waitMs = Math.max(waitMs, account.msLeft);
    if (ip.count >= ipLimit + allowedUpTo) waitMs = Math.max(waitMs, ip.msLeft);
    return waitMs > 0 ? { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) } : { allowed: true };
  }

  /** Counter store failures and timeouts become ThrottleUnavailableError (503): fail closed, never a bare 500. */
  async function counted<T>(ctx: Context, operation: string, work: () => Promise<T>): Promise<T> {
    const name = `throttle ${operation}`;
    try {
      // The request's store-time budget, without a store.error event: the throttle reports its own 503.
      return await storeCall(ctx, name, storeTimeout, work, undefined, undefined);
    } catch (error) {
      throw new ThrottleUnavailableError(operation, error);
    }
  }

  /**
   * The attempt check() let through, per request: fail() and succeed() settle it. Counting at check
   * (not at fail) is what makes 30 parallel wrong passwords 10 attempts and 20 refusals, instead
   * of 30 password checks that all passed one look at a counter of 0.
   */
  const attempts = new WeakMap<Context, Attempt>();

  return {
    check: (ctx, email) =>
      counted(ctx, "check", async () => {
        const keys = { account: accountKey(email), ip: ipKey(ctx) };
        // The IP first, and the account only if the IP may still try: an address that is already
        // refused creates no per-email record (a blocked client cycling emails would add one per
        // request, in memory or one row each), and can't push someone else's account towards its limit.
        const ip = await ips.take(keys.ip);
        const account = ip.count > ipLimit ? UNTOUCHED : await accounts.take(keys.account);
        const result = verdict(account, ip, 1);
        if (result.allowed) attempts.set(ctx, { keys, account, ip });
        else attempts.delete(ctx);
        return result;
      }),
    fail: (ctx, email, details) =>
      counted(ctx, "fail", async () => {
        const keys = { account: accountKey(email), ip: ipKey(ctx) };
        const checked = attempts.get(ctx);
        attempts.delete(ctx);
        // Counted by check() already, or (fail() without check()) counted now.
        const counts = checked?.keys.account === keys.account ? checked : await takeBoth(keys);
        const userId = details?.userId;
        auditEvent(ctx, "auth.login_failed", { userId, reason: "invalid credentials" });
        // Exactly at the limit: this failure is the one that locks (later attempts are refused by check).
        let { account, ip } = counts;
        if (account.count === accountLimit) {
          account = await accounts.lock(keys.account);
          auditEvent(ctx, "auth.lockout", { userId, reason: "account: too many failed logins" });
        }
        if (ip.count === ipLimit) {
          ip = await ips.lock(keys.ip);
          auditEvent(ctx, "auth.lockout", { userId, reason: "ip: too many failed logins" });
        }
        return verdict(account, ip, 0);
      }),
    async succeed(ctx, email) {
      const checked = attempts.get(ctx);
      attempts.delete(ctx);
      // Not awaited: the password was right, and a counter that could not be reset only makes later
      // lockouts come sooner, which is no reason to hold up or refuse this login. The IP's attempt
      // is given back (its failures stay): a success is no reason to block an office's address.
      const work = async () => {
        await accounts.reset(accountKey(email));
        if (checked) await ips.refund(checked.keys.ip);
      };
      callStore("throttle reset", resetTimeout, work).catch((error: unknown) =>
        debug("could not reset the failure counter after a successful login: %s", (error as Error).message),
      );
    },
  };

  async function takeBoth(keys: Attempt["keys"]): Promise<Pick<Attempt, "account" | "ip">> {
    const [account, ip] = await Promise.all([accounts.take(keys.account), ips.take(keys.ip)]);
    return { account, ip };
  }
}

/** The account counter of a check refused for its IP: never read, never written. */
const UNTOUCHED: Counter = { count: 0, msLeft: 0 };

/** An attempt counted by check(): its keys and the counts it was given. */
interface Attempt {
  keys: { account: string; ip: string };
  account: Counter;
  ip: Counter;
}

/** Answer 429 with Retry-After and `{"error":"Too many attempts"}`. */
export function tooManyAttempts(ctx: Context, retryAfterSeconds: number): void {
  if (typeof retryAfterSeconds !== "number" || !Number.isFinite(retryAfterSeconds)) {
    throw new SessionConfigError(
      `tooManyAttempts(ctx, seconds) needs the retryAfterSeconds of an awaited throttle.check() or fail(), got ${String(retryAfterSeconds)}; was the check awaited (const gate = await throttle.check(ctx, email))?`,
      "ERR_SESSIONKIT_MISUSE",
    );
  }
  ctx.status = 429;
  ctx.set("Retry-After", String(Math.max(1, Math.ceil(retryAfterSeconds))));
  ctx.set("Cache-Control", "no-store");
  ctx.body = { error: "Too many attempts" };
}
