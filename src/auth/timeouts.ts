/**
 * `auth()`: idle and absolute timeouts for logged-in sessions. Install it after `session()`.
 *
 * - Idle: a session not seen for `idleTimeout` ms is destroyed; the request goes on logged out.
 * - Absolute: `absoluteTimeout` ms after login the session ends however active it is. login() writes
 *   `absoluteExpiresAt` into the metadata and the core rejects a session past it on load, so neither
 *   `rolling` nor `renew` can stretch a login beyond it.
 * - Activity: lastSeenAt is refreshed at most once per `touchInterval` (a store touch, not a
 *   rewrite), so a busy user costs one store write a minute, not one per request.
 *
 * @example
 * import session from "koa-sessionkit";
 * import { auth } from "koa-sessionkit/auth";
 * app.use(session({ store }, app));
 * app.use(auth({ idleTimeout: 30 * 60_000, absoluteTimeout: 12 * 3_600_000 }));
 */
import type { Context, Middleware, Next } from "koa";
import { debuglog } from "node:util";
import { addAuditListener, auditEvent, type AuditListener } from "../events.js";
import { sessionControl } from "../session/middleware.js";
import { attachAuthConfig, type AuthConfig } from "./config.js";
import { endSession } from "./login.js";
import { SessionConfigError } from "../errors.js";
import { refuseNonObjectOptions, refuseUncalledFactory } from "./misuse.js";

const debug = debuglog("koa-sessionkit:auth");

/** Options of {@link auth}. */
export interface AuthOptions {
  /** ms without a request before a logged-in session ends. Default 30 minutes. */
  idleTimeout?: number;
  /** ms after login when the session ends regardless of activity. Default 12 hours. */
  absoluteTimeout?: number;
  /** Shortest ms between two lastSeenAt writes. Default 60 seconds, or idleTimeout / 10 when that is shorter. */
  touchInterval?: number;
  /** Receives every audit event of the app (see `AuditEvent`); the same list as `session({ onEvent })`. */
  onEvent?: AuditListener;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new SessionConfigError(`auth({ ${name} }) must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

/**
 * The auth middleware: enforces idle and absolute timeouts of logged-in sessions and keeps their
 * lastSeenAt current. Install it after `session()` and before your routes; the other auth helpers
 * read its timeouts from the request.
 *
 * @throws SessionConfigError for a non-positive timeout, a touchInterval not shorter than
 * idleTimeout, or an onEvent that is not a function.
 *
 * @example
 * app.use(session({ store }, app));
 * app.use(auth({ idleTimeout: 30 * 60_000, absoluteTimeout: 12 * 3_600_000, onEvent: (e) => log.info(e) }));
 */
export function auth(options: AuthOptions = {}): Middleware {
  refuseUncalledFactory("auth", options, "auth()");
  refuseNonObjectOptions("auth", options, "{ idleTimeout: 30 * 60_000 }");
  const idleTimeoutMs = positive("idleTimeout", options.idleTimeout, 30 * 60 * 1000);
  const config: AuthConfig = Object.freeze({
    idleTimeoutMs,
    absoluteTimeoutMs: positive("absoluteTimeout", options.absoluteTimeout, 12 * 60 * 60 * 1000),
    // lastSeenAt may lag by up to one interval, so a short idle timeout needs a shorter interval:
    // a tenth keeps an active user from being signed out more than 10 % early.
    touchIntervalMs: positive("touchInterval", options.touchInterval, Math.min(60 * 1000, idleTimeoutMs / 10)),
  });
  if (config.touchIntervalMs >= config.idleTimeoutMs) {
    throw new SessionConfigError(
      `auth() touchInterval (${config.touchIntervalMs} ms) must be shorter than idleTimeout (${config.idleTimeoutMs} ms), or active users would time out; lower touchInterval or leave it out`,
    );
  }

  const onEvent = options.onEvent;
  if (onEvent !== undefined && typeof onEvent !== "function") {
    throw new SessionConfigError(`auth({ onEvent }) must be a function (event) => void, got ${typeof onEvent}`);
  }
  // auth() is not handed the app, so its listener joins the app's list on the first request.
  const joined = new WeakSet<object>();

  return async function authMiddleware(ctx: Context, next: Next): Promise<void> {
    if (onEvent && !joined.has(ctx.app)) {
      addAuditListener(ctx.app, onEvent);
      joined.add(ctx.app);
    }
    attachAuthConfig(ctx, config);
    const controller = sessionControl(ctx);
    if (!controller.active) {
      // Before session() the session isn't loaded yet: every timeout check would see nobody logged in.
      throw new SessionConfigError("auth() ran before session() on this request, so it could not see the session; install app.use(session(…, app)) before app.use(auth())", "ERR_SESSIONKIT_MISUSE");
    }
    // Cookie mode opens the cookie on first access; store mode already loaded it.
    const session = controller.get();
    const meta = controller.meta;
    if (session && typeof meta?.userId === "string") {
      const now = Date.now();
      // A time that is not a number (a hand-edited entry) must not disable the idle timeout: with
      // none usable, the session counts as idle.
      const lastSeenAt = [meta.lastSeenAt, meta.authAt, meta.createdAt].find((value) => typeof value === "number" && Number.isFinite(value)) ?? -Infinity;
      const absoluteOver = typeof meta.absoluteExpiresAt === "number" && meta.absoluteExpiresAt <= now;
      const idleOver = now - lastSeenAt >= config.idleTimeoutMs;
      if (absoluteOver || idleOver) {
        const reason = absoluteOver ? "absolute timeout" : "idle timeout";
        debug("logged-in session ended: %s", reason);
        const storeKey = controller.storeKey;
        await endSession(controller);
        auditEvent(ctx, "session.expired", { userId: meta.userId, storeKey, reason });
        // Proceed logged out, with an empty session the handler can still use.
        controller.set({});
      } else if (now - lastSeenAt >= config.touchIntervalMs) {
        // requestTouch alone: the save stamps lastSeenAt itself, and leaving the metadata unchanged
        // here keeps it a store touch rather than a data write (updateMeta would count as a change).
        controller.requestTouch();
      }
    }
    await next();
  };
}
