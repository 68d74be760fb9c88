/**
 * koa-sessionkit/auth: password hashing, login/logout (with session id regeneration), a user's
 * session list, idle and absolute timeouts, route guards, login throttling and CSRF protection.
 *
 * A separate bundle from "koa-sessionkit": it finds each request's session through `ctx` (a
 * Symbol.for key), never through module state, and its errors are recognized by `err.code`.
 *
 * @example
 * import Koa from "koa";
 * import session from "koa-sessionkit";
 * import { auth, csrf, requireAuth, login, logout, loginThrottle } from "koa-sessionkit/auth";
 * const app = new Koa();
 * app.keys = (process.env.SESSION_KEYS ?? "").split(",");
 * app.use(session({ store }, app));
 * app.use(auth({ idleTimeout: 30 * 60_000 }));
 * app.use(bodyParser());
 * app.use(csrf());
 * router.get("/account", requireAuth(), (ctx) => { ctx.body = currentUser(ctx); });
 *
 * @module koa-sessionkit/auth
 */
export { hashPassword, verifyPassword, verifyDummy, needsRehash, ARGON2_PARAMS, BCRYPT_MAX_BYTES } from "./password.js";
export { breachedPassword, PWNED_PASSWORDS_RANGE_URL, type BreachedPasswordOptions } from "./breached.js";
export { PasswordTooLongError, MAX_PASSWORD_BYTES, SessionkitError, StoreCapabilityError, ThrottleUnavailableError } from "./errors.js";
export { login, logout, currentUser, authenticatedAt, MAX_USER_AGENT_LENGTH, type LoginUser, type CurrentUser } from "./login.js";
export { listSessions, logoutEverywhere, revokeSession, type SessionInfo } from "./sessions.js";
export { auth, type AuthOptions } from "./timeouts.js";
export { requireAuth, requireRole, requireRecentAuth, markReauthenticated, safeNextPath, type RequireAuthOptions } from "./require.js";
export {
  loginThrottle,
  tooManyAttempts,
  normalizeEmail,
  type LoginThrottle,
  type LoginThrottleOptions,
  type ThrottleResult,
  type RedisLike,
  type PgLike,
  type SqliteLike,
} from "./throttle.js";
export { csrf, csrfToken, verifyCsrfToken, type CsrfOptions } from "./csrf.js";
export { AUDIT_EVENTS, addAuditListener, auditEvent, type AuditEvent, type AuditEventName, type AuditFields, type AuditListener } from "../events.js";
