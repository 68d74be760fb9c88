/**
 * The store contract, shared by every built-in store and compatible with koa-session 7's stores
 * (koa-redis and friends), which only implement get/set/destroy.
 *
 * | method          | status      | used for                                                   |
 * |-----------------|-------------|------------------------------------------------------------|
 * | get             | Required    | load a session                                             |
 * | set             | Required    | save a whole session                                       |
 * | destroy         | Required    | logout, regenerate, `ctx.session = null`                   |
 * | touch           | Recommended | `rolling`/`renew` without rewriting the data               |
 * | merge           | Optional    | write only changed keys; never recreates a destroyed entry |
 * | listByUser      | Optional    | list a user's sessions (auth: listSessions)                |
 * | destroyByUser   | Optional    | log out everywhere (auth: logoutEverywhere)                |
 * | close           | Optional    | graceful shutdown                                          |
 *
 * Keys handed to a store are already `prefix + sha256(id)`: a dump of the store holds no usable cookie.
 */
import type { Context } from "koa";

/** Metadata the library keeps beside the user's data, under the reserved `_sk` field. */
export interface SessionMeta {
  /** When the session was first saved (ms since epoch). */
  createdAt: number;
  /** Last time the session was written or touched (ms since epoch). */
  lastSeenAt?: number;
  /** The logged-in user, as given to auth's login(); stores index sessions by it. */
  userId?: string;
  /** The role given to login(), checked by requireRole; kept here so handler code can't change it. */
  role?: string;
  /** When the user last proved who they are (login, password re-entry). */
  authAt?: number;
  /** Hard end of the session, counted from login; rolling/renew never move it. */
  absoluteExpiresAt?: number;
  /** The client IP at login, as Koa saw it (`ctx.ip`), for a "your sessions" page. */
  ip?: string;
  /** The User-Agent header at login (truncated), for a "your sessions" page. */
  userAgent?: string;
}

/**
 * What a store receives in `set` and returns from `get`: the user's top-level keys plus the reserved
 * fields. `_expire`, `_maxAge` and `_session` are koa-session's own, so its stores keep working.
 */
export interface StoredSession {
  [key: string]: unknown;
  /** Expiry in ms since epoch; the middleware rejects a session past it even if the store still has it. */
  _expire?: number;
  /** The session's maxAge in ms, so a per-session `ctx.session.maxAge` survives the next load. */
  _maxAge?: number;
  /** Set instead of _maxAge when maxAge is "session" (a browser-session cookie). */
  _session?: boolean;
  /** koa-sessionkit's metadata (creation, last activity, login); stores may index `_sk.userId`. */
  _sk?: SessionMeta;
}

/**
 * A session's lifetime: milliseconds, or `"session"` for a browser-session cookie (no Expires;
 * the store entry then lives {@link SESSION_COOKIE_STORE_TTL_MS}).
 */
export type MaxAge = number | "session";

/** The third argument of {@link SessionStore.get}, shaped like koa-session's. */
export interface StoreGetOptions {
  /** The middleware's `rolling` option. */
  rolling?: boolean;
  /** The request, for stores that need it (per-tenant routing, logging). */
  ctx?: Context;
}

/** The last argument of {@link SessionStore.set}, `touch` and `merge`, shaped like koa-session's. */
export interface StoreSetOptions {
  /** The middleware's `rolling` option. */
  rolling?: boolean;
  /** true when the data changed, false for a rolling/renew refresh of unchanged data. */
  changed?: boolean;
  /** The request, for stores that need it. */
  ctx?: Context;
}

/** The second argument of {@link SessionStore.destroy}. */
export interface StoreDestroyOptions {
  /** The request, for stores that need it. */
  ctx?: Context;
}

/** The top-level keys one request set or deleted, for stores that can merge (see `merge`). */
export interface SessionChanges {
  /** Top-level keys added or changed, with their new values. */
  set: Record<string, unknown>;
  /** Top-level keys deleted. */
  unset: string[];
  /** Reserved fields (_expire, _maxAge, _sk) after this request; always written. */
  reserved: Pick<StoredSession, "_expire" | "_maxAge" | "_session" | "_sk">;
  /**
   * Optional fast path: the JSON text this request loaded, and the whole session's JSON after its
   * changes. A store may write `result` in one compare-and-set when the entry still holds `base`,
   * and fall back to applying set/unset to the current entry when it does not.
   */
  base?: string;
  /** The whole session's JSON after this request's changes (see `base`). */
  result?: string;
}

/** One row of a user's session list. `key` is the store key (a hash), never the session id. */
export interface SessionListEntry {
  /** The store key (`prefix + sha256(id)`): enough to revoke the session, useless as a cookie. */
  key: string;
  /** When the session was first saved (ms since epoch). */
  createdAt: number;
  /** Last time the session was written or touched (ms since epoch). */
  lastSeenAt: number;
  /** When the entry expires (ms since epoch). */
  expiresAt: number;
  /** The client IP at login, when recorded. */
  ip?: string;
  /** The User-Agent at login, when recorded. */
  userAgent?: string;
}

type MaybePromise<T> = T | Promise<T>;

/**
 * What `session({ store })` accepts: a koa-session 7 store (get/set/destroy) works as it is; the
 * optional methods unlock cheaper writes (touch, merge) and auth's session list and "log out
 * everywhere" (listByUser, destroyByUser). Keys are already `prefix + sha256(id)`.
 *
 * @example
 * // A minimal store (a Map; use MemoryStore for real):
 * const entries = new Map<string, StoredSession>();
 * const store: SessionStore = {
 *   get: (key) => entries.get(key),
 *   set: (key, session) => void entries.set(key, session),
 *   destroy: (key) => entries.delete(key),
 * };
 * app.use(session({ store }, app));
 */
export interface SessionStore {
  /**
   * Required. Resolve the stored session (a `StoredSession`), or null/undefined when missing or
   * expired. Typed `unknown` because koa-session's stores are: the middleware checks and cleans
   * whatever comes back (anything that is not a plain object is "no session").
   */
  get(key: string, maxAge: MaxAge | undefined, options: StoreGetOptions): unknown;
  /** Required. Save the whole session; `maxAge` is the entry's lifetime in ms (or "session"). */
  set(key: string, session: StoredSession, maxAge: MaxAge | undefined, options: StoreSetOptions): MaybePromise<unknown>;
  /**
   * Required. Remove the entry. Removing a missing entry is not an error. A store may resolve `false`
   * when there was nothing to remove (the built-in ones do): regenerate() then knows a concurrent
   * logout won and does not write the session back under a new id.
   */
  destroy(key: string, options: StoreDestroyOptions): MaybePromise<unknown>;
  /** Recommended. Extend an entry's life (and set `_expire`/lastSeenAt) without rewriting its data. */
  touch?(key: string, session: StoredSession, maxAge: MaxAge | undefined, options: StoreSetOptions): MaybePromise<void>;
  /**
   * Optional. Apply only the changed top-level keys, atomically. Must not create an entry that does not
   * exist (a destroyed session stays destroyed): resolve false in that case, true when merged.
   */
  merge?(key: string, changes: SessionChanges, maxAge: MaxAge | undefined, options: StoreSetOptions): MaybePromise<boolean>;
  /** Optional. Live sessions of one user (by `_sk.userId`), newest activity first. */
  listByUser?(userId: string): Promise<SessionListEntry[]>;
  /** Optional. Destroy every session of one user except the listed store keys; resolves how many went. */
  destroyByUser?(userId: string, options?: { except?: string | string[] }): Promise<number>;
  /** Optional. Release connections and timers. A store given an existing client leaves it open. */
  close?(): Promise<void>;
}

/**
 * Built-in stores attach the JSON text they parsed (on get) or that the middleware already serialized
 * (on set) under this symbol, so one request does one parse and one serialize, not two of each.
 */
export const RAW_JSON: unique symbol = Symbol.for("koa-sessionkit.rawJson") as never;

/** Lifetime of a store entry in ms: "session" cookies still need a server-side bound. */
export const SESSION_COOKIE_STORE_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * The lifetime in ms a store should give an entry for `maxAge`: the number itself, or
 * {@link SESSION_COOKIE_STORE_TTL_MS} for "session", a missing or a non-positive maxAge. For custom stores.
 */
export function ttlMs(maxAge: MaxAge | undefined): number {
  return typeof maxAge === "number" && Number.isFinite(maxAge) && maxAge > 0 ? maxAge : SESSION_COOKIE_STORE_TTL_MS;
}
