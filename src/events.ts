/**
 * Audit events: one typed stream of the security-relevant things the library sees, for operators
 * who need to answer "who logged in, who was locked out, which cookies were forged, is the store
 * failing" without reading code.
 *
 * Subscribe with `session({ onEvent }, app)` or `auth({ onEvent })` (both add to one list per app),
 * or `addAuditListener(app, listener)`. Events an app itself detects (a password change, an account
 * disabled) go into the same stream with `auditEvent(ctx, name, fields)`.
 *
 * An event never carries a cookie value, a session id, a store key or a password: the session is
 * named by the same opaque handle `listSessions()` shows (a domain-separated hash of the store key).
 *
 * Listeners are isolated from the request: each runs on a later turn of the event loop
 * (setImmediate), a throw or a rejected promise is caught and reported through
 * NODE_DEBUG=koa-sessionkit:audit, and a returned promise is never awaited. A listener that does
 * slow synchronous work still occupies the process, so hand the event to an asynchronous logger.
 *
 * @example
 * import session from "koa-sessionkit";
 * import pino from "pino";
 * const log = pino();
 * app.use(session({ store, onEvent: (e) => log.info(e, "audit") }, app));
 * // {"time":"2026-12-01T10:00:00.000Z","event":"auth.login","userId":"42","session":"Xy…","ip":"203.0.113.9"}
 */
import type { KoaApp } from "./koa-app.js";
import type { Context } from "koa";
import { createHash } from "node:crypto";
import { debuglog } from "node:util";
import { SessionConfigError } from "./errors.js";

const debug = debuglog("koa-sessionkit:audit");

/** Every event name, in the order the docs list them. */
export const AUDIT_EVENTS = [
  "auth.login",
  "auth.login_failed",
  "auth.lockout",
  "auth.logout",
  "auth.logout_everywhere",
  "auth.session_revoked",
  "auth.password_changed",
  "auth.account_disabled",
  "session.invalid_signature",
  "session.expired",
  "store.error",
] as const;

/** The name of an audit event, e.g. `"auth.login"`. */
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

/** One audit event. Fields that are unknown are absent, never null. */
export interface AuditEvent {
  /** When it happened, ISO 8601 in UTC. */
  time: string;
  /** What happened. */
  event: AuditEventName;
  /** The user, when known (the id given to login()). */
  userId?: string;
  /** Opaque handle of the session (as listed by listSessions); absent in cookie mode. */
  session?: string;
  /** The client address as Koa sees it (`ctx.ip`; X-Forwarded-For only with `app.proxy`). */
  ip?: string;
  /** Why, where there is a reason: "idle timeout", "bad signature", "get timed out", … */
  reason?: string;
}

/** Receives every audit event of the app it was added to. Its return value is ignored. */
export type AuditListener = (event: AuditEvent) => unknown;

/** What a caller may say about an event; time, name and ip are filled in. */
export interface AuditFields {
  /** The user the event is about, when known. */
  userId?: string | undefined;
  /** The session's store key; turned into its handle here and never emitted as is. */
  storeKey?: string | undefined;
  /** A short human reason ("wrong password", "idle timeout"); never a secret. */
  reason?: string | undefined;
}

const LISTENERS = Symbol.for("koa-sessionkit.auditListeners");
type Carrier = { [LISTENERS]?: Set<AuditListener> };

/**
 * Add a listener to `app`'s audit stream. Adding the same function twice keeps one. The same list
 * that `session({ onEvent })` and `auth({ onEvent })` add to.
 *
 * @example
 * addAuditListener(app, (e) => {
 *   if (e.event === "auth.lockout") alerts.notify(`account ${e.userId} locked out from ${e.ip}`);
 * });
 */
export function addAuditListener(app: KoaApp, listener: AuditListener): void {
  if (typeof listener !== "function") {
    throw new SessionConfigError(`onEvent must be a function (event) => void, got ${typeof listener}`);
  }
  const carrier = app as unknown as Carrier;
  let listeners = carrier[LISTENERS];
  if (!listeners) {
    listeners = new Set();
    // Not enumerable: the app object is sometimes logged or inspected.
    Object.defineProperty(carrier, LISTENERS, { value: listeners, configurable: true });
  }
  listeners.add(listener);
}

/** The opaque handle of a store key: 24 bytes of a domain-separated SHA-256, base64url. */
export function sessionHandle(storeKey: string): string {
  return createHash("sha256").update("koa-sessionkit:session-handle\0").update(storeKey).digest("base64url").slice(0, 32);
}

/**
 * Emit an audit event for this request. Costs nothing when the app has no listener. Never throws,
 * whatever the listeners do. For events only the app can see, such as a password change.
 *
 * @example
 * await users.setPassword(user.id, await hashPassword(newPassword));
 * auditEvent(ctx, "auth.password_changed", { userId: user.id });
 */
export function auditEvent(ctx: Context, event: AuditEventName, fields: AuditFields = {}): void {
  const listeners = (ctx.app as unknown as Carrier | undefined)?.[LISTENERS];
  if (!listeners || listeners.size === 0) return;
  const record: AuditEvent = { time: new Date().toISOString(), event };
  if (fields.userId !== undefined) record.userId = fields.userId;
  if (fields.storeKey !== undefined) record.session = sessionHandle(fields.storeKey);
  if (ctx.ip) record.ip = ctx.ip;
  if (fields.reason !== undefined) record.reason = fields.reason;
  Object.freeze(record);
  setImmediate(() => {
    for (const listener of listeners) deliver(listener, record);
  });
}

function deliver(listener: AuditListener, record: AuditEvent): void {
  try {
    const result = listener(record);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === "function") {
      (result as PromiseLike<unknown>).then(undefined, (error: unknown) => report(record, error));
    }
  } catch (error) {
    report(record, error);
  }
}

function report(record: AuditEvent, error: unknown): void {
  debug("an audit listener failed on %s: %s", record.event, error instanceof Error ? error.message : String(error));
}
