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
  /** When the session expires (ms since epoch). */
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

function toInfo(entry: SessionListEntry, currentKey: string | undefined): SessionInfo {
  const info: SessionInfo = {
    id: sessionHandle(entry.key),
    current: entry.key === currentKey,
    createdAt: entry.createdAt,
    lastSeenAt: entry.lastSeenAt,
    expiresAt: entry.expiresAt,
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
 * The logged-in user's live sessions, most recently active first; [] when nobody is logged in.
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
  return entries.map((entry) => toInfo(entry, controller.storeKey));
}

/**
 * Destroy every session of the logged-in user (all but this one with `exceptCurrent`). Resolves how
 * many were revoked; 0 when nobody is logged in. Without exceptCurrent this request is logged out too.
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
