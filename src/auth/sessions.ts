/**
 * A user's sessions: list them, revoke one, or log out everywhere. These need a store that indexes
 * sessions by user (`listByUser` / `destroyByUser`): the built-in MemoryStore, RedisStore,
 * PostgresStore and SqliteStore all do; koa-session-era stores and cookie mode do not, and these
 * functions then throw a StoreCapabilityError (code ERR_SESSIONKIT_STORE_CAPABILITY). A store that
 * fails or does not answer within storeTimeout makes them reject with StoreUnavailableError (503).
 *
 * A listed session's `id` is an opaque handle: a hash of the store key (itself a hash of the session
 * id), so it can be shown in a page or sent back in a form without being usable as a cookie. It is
 * stable across processes and restarts, so a list rendered by one instance can be revoked on another.
 *
 * @example
 * import { listSessions, revokeSession, logoutEverywhere } from "koa-sessionkit/auth";
 * router.get("/sessions", async (ctx) => { ctx.body = await listSessions(ctx); });
 * router.delete("/sessions/:id", async (ctx) => { ctx.status = (await revokeSession(ctx, ctx.params.id)) ? 204 : 404; });
 * router.post("/logout-others", async (ctx) => { ctx.body = { revoked: await logoutEverywhere(ctx, { exceptCurrent: true }) }; });
 */
import type { Context } from "koa";
import { timingSafeEqual } from "node:crypto";
import { StoreCapabilityError } from "../errors.js";
import { auditEvent, sessionHandle } from "../events.js";
import type { SessionListEntry, SessionStore } from "../stores/contract.js";
import { sessionControl } from "../session/middleware.js";
import { callStore } from "../stores/call.js";
import { authConfigOf, type AuthConfig } from "./config.js";
import { currentUser, endSession } from "./login.js";

export { sessionHandle };

/** One of the user's sessions, as {@link listSessions} returns it: safe to show and to send to the browser. */
export interface SessionInfo {
  /** Opaque handle for revokeSession; not a session id. */
  id: string;
  /** True for the session making this request. */
  current: boolean;
  /** When the session was first saved (ms since epoch). */
  createdAt: number;
  /** Last time the session was written or touched (ms since epoch). */
  lastSeenAt: number;
  /** When the session ends if it is not used again: the earliest of its idle timeout, its absolute timeout and the store's expiry (ms since epoch). */
  expiresAt: number;
  /** The client IP at login, when recorded. */
  ip?: string;
  /** The User-Agent at login, when recorded. */
  userAgent?: string;
}

const FIX = "use a store that indexes sessions by user: RedisStore, PostgresStore, SqliteStore or MemoryStore (mode: \"store\")";
const HANDLE_PATTERN = /^[A-Za-z0-9_-]{32}$/;

type UserIndexedStore = SessionStore & Required<Pick<SessionStore, "listByUser" | "destroyByUser">>;

function indexedStore(ctx: Context, capability: "listByUser" | "destroyByUser"): UserIndexedStore {
  const controller = sessionControl(ctx);
  const store = controller.store;
  if (!store) {
    throw new StoreCapabilityError(`${capability} (cookie mode keeps each session only in its browser, so sessions can't be listed or revoked)`, FIX);
  }
  if (typeof store.listByUser !== "function" || typeof store.destroyByUser !== "function") throw new StoreCapabilityError(capability, FIX);
  return store as UserIndexedStore;
}

/**
 * When a listed session really ends: the store keeps an entry for the cookie's maxAge, but auth()
 * ends it earlier, idleTimeout after it was last seen or absoluteTimeout after login (login() sets
 * createdAt, so that is when the absolute limit started).
 */
function endsAt(entry: SessionListEntry, config: AuthConfig): number {
  return Math.min(entry.expiresAt, entry.lastSeenAt + config.idleTimeoutMs, entry.createdAt + config.absoluteTimeoutMs);
}

function toInfo(entry: SessionListEntry, currentKey: string | undefined, expiresAt: number): SessionInfo {
  const info: SessionInfo = {
    id: sessionHandle(entry.key),
    current: entry.key === currentKey,
    createdAt: entry.createdAt,
    lastSeenAt: entry.lastSeenAt,
    expiresAt,
  };
  if (entry.ip !== undefined) info.ip = entry.ip;
  if (entry.userAgent !== undefined) info.userAgent = entry.userAgent;
  return info;
}

/** Store calls here share the request's store-time budget with the session's own (stores/deadline.ts). */
function listByUser(ctx: Context, store: UserIndexedStore, userId: string, timeoutMs: number): Promise<SessionListEntry[]> {
  return callStore("listByUser", timeoutMs, () => store.listByUser(userId), { ctx, store });
}

/**
 * The logged-in user's live sessions, most recently active first; [] when nobody is logged in. A
 * session past auth()'s idle or absolute timeout is left out, though the store may still hold it.
 *
 * @throws StoreCapabilityError when the store can't list a user's sessions (cookie mode, koa-session stores).
 *
 * @example
 * router.get("/account/sessions", requireAuth(), async (ctx) => {
 *   ctx.body = (await listSessions(ctx)).map((s) => ({ id: s.id, current: s.current, ip: s.ip, lastSeenAt: s.lastSeenAt }));
 * });
 */
export async function listSessions(ctx: Context): Promise<SessionInfo[]> {
  const store = indexedStore(ctx, "listByUser");
  const user = currentUser(ctx);
  if (!user) return [];
  const controller = sessionControl(ctx);
  const entries = await listByUser(ctx, store, user.id, controller.storeTimeout);
  const config = authConfigOf(ctx);
  const now = Date.now();
  const sessions: SessionInfo[] = [];
  for (const entry of entries) {
    const expiresAt = endsAt(entry, config);
    // Past its idle or absolute timeout: over, though the store still holds it until its TTL or the
    // next request with its cookie. This request's own session is live (auth() let it through).
    if (expiresAt > now || entry.key === controller.storeKey) sessions.push(toInfo(entry, controller.storeKey, expiresAt));
  }
  return sessions;
}

/**
 * Destroy every session of the logged-in user (all but this one with `exceptCurrent`). Resolves how
 * many store entries were removed (ones already past their idle timeout included); 0 when nobody is
 * logged in. Without exceptCurrent this request is logged out too.
 */
export async function logoutEverywhere(ctx: Context, options: { exceptCurrent?: boolean } = {}): Promise<number> {
  const store = indexedStore(ctx, "destroyByUser");
  const user = currentUser(ctx);
  if (!user) return 0;
  const controller = sessionControl(ctx);
  const currentKey = controller.storeKey;
  const keepCurrent = options.exceptCurrent === true && currentKey !== undefined;
  const count = await callStore("destroyByUser", controller.storeTimeout, () => store.destroyByUser(user.id, keepCurrent ? { except: currentKey } : {}), {
    ctx,
    store,
  });
  if (!keepCurrent) await endSession(controller);
  auditEvent(ctx, "auth.logout_everywhere", {
    userId: user.id,
    storeKey: currentKey,
    reason: `${count} session${count === 1 ? "" : "s"} ended${keepCurrent ? ", this one kept" : ""}`,
  });
  return count;
}

/**
 * Revoke one session of the logged-in user by its handle (from listSessions). Resolves false when the
 * handle matches none of this user's sessions, so nobody can end another user's session.
 */
export async function revokeSession(ctx: Context, handle: string): Promise<boolean> {
  const store = indexedStore(ctx, "listByUser");
  const user = currentUser(ctx);
  if (!user || typeof handle !== "string" || !HANDLE_PATTERN.test(handle)) return false;
  const wanted = Buffer.from(handle);
  const controller = sessionControl(ctx);
  const timeout = controller.storeTimeout;
  const entries = await listByUser(ctx, store, user.id, timeout);
  const entry = entries.find((candidate) => timingSafeEqual(Buffer.from(sessionHandle(candidate.key)), wanted));
  if (!entry) return false;
  if (entry.key === controller.storeKey) await endSession(controller);
  else await callStore("destroy", timeout, () => store.destroy(entry.key, { ctx }), { ctx, store });
  auditEvent(ctx, "auth.session_revoked", { userId: user.id, storeKey: entry.key });
  return true;
}
