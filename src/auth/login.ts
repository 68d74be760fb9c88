/**
 * `login`, `logout` and `currentUser`. Login always moves the session to a new id (the old store entry
 * is destroyed), so an id planted or seen before login (session fixation) is worth nothing after it.
 * The user id lives in the session's metadata (`_sk.userId`), which handler code can't set by
 * accident through `ctx.session.userId = …`; the stores index sessions by it.
 *
 * Works in store mode and in cookie mode (`mode: "cookie"`). In cookie mode logout clears the cookie,
 * but a copy of the old cookie stays valid until it expires: use a store if you need revocation.
 *
 * @example
 * import { login, logout, currentUser } from "koa-sessionkit/auth";
 * router.post("/login", async (ctx) => {
 *   const user = await checkCredentials(ctx);   // see password.ts and throttle.ts
 *   await login(ctx, { id: user.id, role: user.role });
 *   ctx.body = { ok: true };
 * });
 * router.post("/logout", async (ctx) => { await logout(ctx); ctx.status = 204; });
 * router.get("/me", (ctx) => { ctx.body = currentUser(ctx); });
 */
import type { Context } from "koa";
import { sessionControl } from "../session/middleware.js";
import type { SessionControl } from "../session/types.js";
import { auditEvent } from "../events.js";
import { traced } from "../telemetry.js";
import { authConfigOf } from "./config.js";
import { SessionConfigError } from "../errors.js";
import { forgetAnonymousCsrfSecret } from "./csrf.js";

/** Longest User-Agent kept in the session's metadata. */
export const MAX_USER_AGENT_LENGTH = 256;

/** Who logs in: what {@link login} records in the session. */
export interface LoginUser {
  /** The user's id (a number is stored as its string); the stores index sessions by it. */
  id: string | number;
  /** Optional role, kept as the session's `role` field and checked by requireRole. */
  role?: string;
}

/** The logged-in user, as {@link currentUser} returns it. */
export interface CurrentUser {
  /** The id given to login(), as a string. */
  id: string;
  /** The role given to login(), if any. */
  role?: string;
}

/** Metadata that says "nobody is logged in" (keys present so updateMeta overwrites old values). */
function anonymousMeta(now: number): Parameters<SessionControl["updateMeta"]>[0] {
  return { createdAt: now, lastSeenAt: now, userId: undefined, role: undefined, authAt: undefined, absoluteExpiresAt: undefined, ip: undefined, userAgent: undefined };
}

/**
 * Log `user` in: the session becomes `{ userId, role }` (anonymous data is dropped, including any
 * CSRF secret) under a new id, with the session() option's `maxAge` (a per-session `maxAge` set
 * before login is dropped; to shorten a login, e.g. "remember me" unticked, set `ctx.session.maxAge`
 * after it); metadata records when and from where. Saved before it resolves. Call it after the
 * password checked out; it emits `auth.login`.
 *
 * @throws SessionConfigError (`ERR_SESSIONKIT_MISUSE`) for a missing id or a non-string role.
 *
 * @example
 * const user = await users.findByEmail(email);
 * // verifyDummy for an unknown email: the same time as a wrong password, so timing lists no accounts.
 * const ok = user ? await verifyPassword(user.passwordHash, password) : await verifyDummy(password);
 * if (user && ok) await login(ctx, { id: user.id, role: user.role });
 */
export function login(ctx: Context, user: LoginUser): Promise<void> {
  return traced("login", () => loginNow(ctx, user));
}

async function loginNow(ctx: Context, user: LoginUser): Promise<void> {
  const id = user?.id;
  if (!((typeof id === "string" && id.length > 0) || (typeof id === "number" && Number.isFinite(id)))) {
    throw new SessionConfigError("login(ctx, user) needs user.id as a non-empty string or a finite number", "ERR_SESSIONKIT_MISUSE");
  }
  if (user.role !== undefined && typeof user.role !== "string") {
    throw new SessionConfigError("login(ctx, user) needs user.role to be a string when given", "ERR_SESSIONKIT_MISUSE");
  }
  const controller = sessionControl(ctx);
  const config = authConfigOf(ctx);
  const now = Date.now();
  const userId = String(id);
  ctx.session = user.role === undefined ? { userId } : { userId, role: user.role };
  // A login lives as long as the app says, not as long as the anonymous session it replaces (a login
  // page may give those a short life so that cookieless page loads don't fill the store).
  controller.useDefaultMaxAge();
  const userAgent = ctx.get("user-agent");
  controller.updateMeta({
    createdAt: now,
    lastSeenAt: now,
    userId,
    // The role that requireRole checks lives here, out of the handler's reach; the copy in the
    // session data is for reading (koa-session apps read ctx.session.role) and changes nothing.
    role: user.role,
    authAt: now,
    absoluteExpiresAt: now + config.absoluteTimeoutMs,
    ip: ctx.ip || undefined,
    userAgent: userAgent ? userAgent.slice(0, MAX_USER_AGENT_LENGTH) : undefined,
  });
  // regenerate: destroy the old store entry, then save under a fresh id and send the cookie. Replaced:
  // the session above holds nothing of the old one, so it is saved even if another request (the
  // first click of a double-submitted form, a logout in another tab) destroyed the old entry meanwhile.
  await controller.commit({ regenerate: true, replaced: true });
  // A CSRF token from before the login must not work after it (its secret may sit in a companion cookie).
  forgetAnonymousCsrfSecret(ctx);
  auditEvent(ctx, "auth.login", { userId, storeKey: controller.storeKey });
}

/**
 * End this session now: the store entry is destroyed and the cookie expired. `ctx.session` is null
 * after. Emits `auth.logout`.
 *
 * @example
 * router.post("/logout", async (ctx) => { await logout(ctx); ctx.status = 204; });
 */
export function logout(ctx: Context): Promise<void> {
  return traced("logout", () => logoutNow(ctx));
}

async function logoutNow(ctx: Context): Promise<void> {
  const controller = sessionControl(ctx);
  const userId = currentUser(ctx)?.id;
  const storeKey = controller.storeKey;
  await endSession(controller);
  auditEvent(ctx, "auth.logout", { userId, storeKey });
}

/** Destroy the session behind `controller` and forget who was logged in. */
export async function endSession(controller: SessionControl): Promise<void> {
  // Cookie mode opens the cookie lazily; load it so commit knows there is something to clear.
  controller.get();
  // Should the handler start a new session later in this request, it must not inherit the login.
  controller.updateMeta(anonymousMeta(Date.now()));
  controller.set(null);
  await controller.commit();
}

/**
 * When the current user logged in (ms since epoch), or undefined when nobody is. Compare it with a
 * per-user "sessions valid after" time to revoke sessions a store can't reach (cookie mode).
 */
export function authenticatedAt(ctx: Context): number | undefined {
  if (!currentUser(ctx)) return undefined;
  const authAt = sessionControl(ctx).meta?.authAt;
  return typeof authAt === "number" ? authAt : undefined;
}

/**
 * The logged-in user of this request, or null (nobody logged in, or past the absolute timeout).
 *
 * @example
 * router.get("/me", (ctx) => { ctx.body = currentUser(ctx) ?? { anonymous: true }; });
 */
export function currentUser(ctx: Context): CurrentUser | null {
  const controller = sessionControl(ctx);
  const session = controller.get();
  const meta = controller.meta;
  if (!session || typeof meta?.userId !== "string") return null;
  if (typeof meta.absoluteExpiresAt === "number" && meta.absoluteExpiresAt <= Date.now()) return null;
  return typeof meta.role === "string" ? { id: meta.userId, role: meta.role } : { id: meta.userId };
}
