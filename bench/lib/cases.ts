/**
 * The benchmark cases, shared by the harness (bench/run.ts) and the server (bench/servers/server.ts).
 * Every Koa-based case runs on Koa 2 (the `koa2` alias package), so the peers and koa-sessionkit are
 * compared on the same framework; `koa-bare` is the ceiling.
 */

export type Library = "bare" | "koa-session" | "express-session" | "sessionkit" | "fastify-bare" | "fastify-secure-session";
export type Backend = "none" | "cookie" | "memory" | "redis" | "postgres" | "sqlite";
export type Operation = "read" | "write";
/** Where store operations are counted: Redis itself, the server process (/__stats), or not at all. */
export type Counting = "redis" | "server" | null;

export interface CaseDef {
  name: string;
  library: Library;
  backend: Backend;
  operation: Operation;
  counting: Counting;
  /**
   * Issue 9's "before": the store's merge is hidden, so commits write the whole session with set()
   * as koa-session does. Run beside the normal case in the same interleaved rounds for the
   * before/after comparison.
   */
  wholeObject?: boolean;
  /**
   * One session for every connection (one user whose page fires many parallel requests). Other
   * write cases log in once per connection and send the sessions round-robin, so parallel requests
   * mostly touch different sessions; read cases use one session (a read never writes).
   */
  contended?: boolean;
  /**
   * Cold start: a fresh private Redis (empty script cache) and a fresh server, measured from the
   * first request, without warmup. Implies `contended`.
   */
  cold?: boolean;
  /**
   * Sessions made by auth's `login()` (so `_sk.userId` is set), as in an app with accounts: every
   * write also keeps the user's session index, which RedisStore updates with one more script.
   */
  loggedIn?: boolean;
}

interface Variant {
  wholeObject?: boolean;
  contended?: boolean;
  cold?: boolean;
  loggedIn?: boolean;
}

function def(name: string, library: Library, backend: Backend, operation: Operation, variant: Variant = {}): CaseDef {
  const counting: Counting = backend === "redis" ? "redis" : backend === "none" || backend === "cookie" ? null : "server";
  return { name, library, backend, operation, counting, ...variant, ...(variant.cold ? { contended: true } : {}) };
}

/**
 * In run order. Every round runs each case once, and cases that a target compares run back to back
 * (report.ts pairs them round by round): on a shared VM whose speed drifts over minutes, two
 * measurements a few seconds apart compare the code, not the moment.
 */
export const CASES: readonly CaseDef[] = [
  // koa-bare is the baseline of the two closest targets: the memory read just before it and the
  // cookie read (with koa-session's, then the Fastify pair) just after it.
  def("sessionkit-memory-write-contended", "sessionkit", "memory", "write", { contended: true }),
  def("sessionkit-memory-write-set", "sessionkit", "memory", "write", { wholeObject: true }),
  def("sessionkit-memory-write", "sessionkit", "memory", "write"),
  def("sessionkit-memory-read", "sessionkit", "memory", "read"),
  def("koa-bare", "bare", "none", "read"),
  def("sessionkit-cookie-read", "sessionkit", "cookie", "read"),
  def("koa-session-cookie-read", "koa-session", "cookie", "read"),
  def("fastify-bare", "fastify-bare", "none", "read"),
  def("fastify-secure-session-read", "fastify-secure-session", "cookie", "read"),
  def("sessionkit-cookie-write", "sessionkit", "cookie", "write"),
  def("koa-session-cookie-write", "koa-session", "cookie", "write"),
  def("sessionkit-redis-read", "sessionkit", "redis", "read"),
  def("koa-session-redis-read", "koa-session", "redis", "read"),
  def("express-session-redis-read", "express-session", "redis", "read"),
  // sessionkit-redis-write sits between the two cases it is compared with (its peer, and -set for issue 9's budget).
  def("koa-session-redis-write", "koa-session", "redis", "write"),
  def("sessionkit-redis-write", "sessionkit", "redis", "write"),
  def("sessionkit-redis-write-set", "sessionkit", "redis", "write", { wholeObject: true }),
  def("sessionkit-redis-write-loggedin", "sessionkit", "redis", "write", { loggedIn: true }),
  def("sessionkit-redis-write-contended", "sessionkit", "redis", "write", { contended: true }),
  def("koa-session-redis-write-contended", "koa-session", "redis", "write", { contended: true }),
  def("sessionkit-redis-write-cold", "sessionkit", "redis", "write", { cold: true }),
  def("koa-session-redis-write-cold", "koa-session", "redis", "write", { cold: true }),
  def("sessionkit-postgres-read", "sessionkit", "postgres", "read"),
  def("express-session-postgres-read", "express-session", "postgres", "read"),
  def("sessionkit-sqlite-read", "sessionkit", "sqlite", "read"),
];

export function findCase(name: string): CaseDef | undefined {
  return CASES.find((entry) => entry.name === name);
}

/** Source file a sessionkit store case needs; the case is skipped while it does not exist. */
export const SESSIONKIT_STORE_FILES: Partial<Record<Backend, string>> = {
  redis: "src/stores/redis.ts",
  postgres: "src/stores/postgres.ts",
  sqlite: "src/stores/sqlite.ts",
  memory: "src/stores/memory.ts",
};

/** Keys (≥ 32 bytes, as koa-sessionkit requires) used by every Koa case, peers included. */
export const APP_KEYS = [
  "bench-key-one-0123456789abcdefghijklmnopqrstuvwxyz",
  "bench-key-two-0123456789abcdefghijklmnopqrstuvwxyz",
];

export const SESSION_MAX_AGE_MS = 86_400_000;
/** Prefixes of everything the benchmark writes, so cleanup never touches anyone else's data. */
export const REDIS_PREFIX = "skbench:";
export const PG_TABLE_SESSIONKIT = "skbench_sessionkit";
export const PG_TABLE_CONNECT = "skbench_connect_pg";
