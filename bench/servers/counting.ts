/**
 * Store-operation counters inside a benchmark server, read by the harness through GET /__stats.
 * - countingStore: wraps a koa-sessionkit store (memory, SQLite): get = read; set/merge/touch/destroy = write.
 * - countPgQueries: wraps pg's Client#query, so every statement sent to PostgreSQL is counted by
 *   its verb (SELECT = read, one per key of a batched `key = ANY($1)`; INSERT/UPDATE/DELETE = write;
 *   anything else = other), whichever library (PostgresStore, connect-pg-simple) sent it.
 */
import type { SessionStore } from "../../src/stores/contract.js";

export interface ServerStats {
  /** Requests to "/" (the measured route) this process has answered: the counting pass divides by it. */
  served: number;
  reads: number;
  writes: number;
  other: number;
  byOperation: Record<string, number>;
  memory?: { sessions: number; heapDeltaBytes: number; bytesPerSession: number };
}

export const stats: ServerStats = { served: 0, reads: 0, writes: 0, other: 0, byOperation: {} };

/** The counters, as GET /__stats returns them (server CPU is read from /proc by the harness). */
export function statsNow(): ServerStats {
  return stats;
}

function record(kind: "reads" | "writes" | "other", operation: string, count = 1): void {
  stats[kind] += count;
  stats.byOperation[operation] = (stats.byOperation[operation] ?? 0) + count;
}

/** The same store, with every contract method counted; optional methods stay absent when the inner store lacks them. */
export function countingStore(inner: SessionStore): SessionStore {
  const wrapped: SessionStore = {
    get: (key, maxAge, options) => {
      record("reads", "get");
      return inner.get(key, maxAge, options);
    },
    set: (key, session, maxAge, options) => {
      record("writes", "set");
      return inner.set(key, session, maxAge, options);
    },
    destroy: (key, options) => {
      record("writes", "destroy");
      return inner.destroy(key, options);
    },
  };
  // Fixed parameter lists, not rest arguments and apply: the counters should cost the measured
  // server as little as possible (a store call per request goes through here).
  if (inner.touch) {
    const touch = inner.touch.bind(inner);
    wrapped.touch = (key, session, maxAge, options) => {
      record("writes", "touch");
      return touch(key, session, maxAge, options);
    };
  }
  if (inner.merge) {
    const merge = inner.merge.bind(inner);
    wrapped.merge = (key, changes, maxAge, options) => {
      record("writes", "merge");
      return merge(key, changes, maxAge, options);
    };
  }
  if (inner.close) wrapped.close = () => inner.close?.() ?? Promise.resolve();
  return wrapped;
}

let pgPatched = false;

export function countPgQueries(pg: typeof import("pg")): void {
  if (pgPatched) return;
  pgPatched = true;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function countedQuery(this: unknown, ...args: unknown[]): unknown {
    const first = args[0];
    const text = typeof first === "string" ? first : typeof first === "object" && first !== null ? (first as { text?: unknown }).text : undefined;
    const verb = typeof text === "string" ? (/^\s*(\w+)/.exec(text)?.[1] ?? "").toUpperCase() : "";
    // A batched read (PostgresStore's SELECT … WHERE key = ANY($1)) reads one key per array element,
    // as an MGET is counted per key on Redis: the check is reads per request, not queries.
    const values = typeof first === "object" && first !== null ? (first as { values?: unknown }).values : args[1];
    const keys = Array.isArray(values) && Array.isArray(values[0]) ? (values[0] as unknown[]).length : 1;
    if (verb === "SELECT") record("reads", verb, keys);
    else if (verb === "INSERT" || verb === "UPDATE" || verb === "DELETE") record("writes", verb);
    else record("other", verb || "?");
    return original.apply(this, args);
  };
}
