/**
 * Route guards: `requireAuth`, `requireRole`, `requireRecentAuth`, plus `safeNextPath` for the
 * post-login redirect.
 *
 * - Not logged in: JSON clients get 401 `{"error":"Not authenticated"}`; browsers (Accept prefers
 *   text/html) get a 302 to `/login?next=<path>`, where next is always a same-origin path.
 * - Authenticated responses get `Cache-Control: no-store`, so a shared computer's back button or a
 *   proxy never shows one user's page to the next.
 *
 * @example
 * import { requireAuth, requireRole, requireRecentAuth, safeNextPath } from "koa-sessionkit/auth";
 * router.get("/account", requireAuth(), (ctx) => { ... });
 * router.get("/admin", requireAuth(), requireRole("admin"), (ctx) => { ... });
 * router.post("/account/email", requireAuth(), requireRecentAuth(5 * 60_000), (ctx) => { ... });
 * // after a successful login:
 * ctx.redirect(safeNextPath(ctx.query.next));
 */
import type { Context, Middleware, Next } from "koa";
import { sessionControl } from "../session/middleware.js";
import { currentUser } from "./login.js";
import { SessionConfigError } from "../errors.js";
import { refuseNonObjectOptions, refuseUncalledFactory } from "./misuse.js";

/** Options of {@link requireAuth}. */
export interface RequireAuthOptions {
  /** Where browsers are sent when not logged in. Default "/login". */
  loginPath?: string;
}

const MAX_NEXT_LENGTH = 2048;
const PROBE_ORIGIN = "http://sessionkit.invalid";

/**
 * `value` when it is a path on this origin ("/account?tab=2"), else "/". Rejects "//evil.com",
 * "/\\evil.com" (browsers read "\\" as "/"), "https://…", "javascript:…", control characters and
 * anything that is not a string.
 */
export function safeNextPath(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_NEXT_LENGTH) return "/";
  if (value[0] !== "/" || value[1] === "/" || value[1] === "\\") return "/";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return "/";
  try {
    if (new URL(value, PROBE_ORIGIN).origin !== PROBE_ORIGIN) return "/";
  } catch {
    return "/";
  }
  return value;
}

/** A browser navigation (wants HTML) rather than an API client. */
function wantsHtml(ctx: Context): boolean {
  return ctx.get("accept").includes("text/html") && ctx.accepts("json", "html") === "html";
}

function deny(ctx: Context, status: 401 | 403, error: string): void {
  ctx.status = status;
  ctx.set("Cache-Control", "no-store");
  ctx.body = { error };
}

function unauthenticated(ctx: Context, loginPath: string): void {
  if (wantsHtml(ctx)) {
    const separator = loginPath.includes("?") ? "&" : "?";
    ctx.set("Cache-Control", "no-store");
    ctx.redirect(`${loginPath}${separator}next=${encodeURIComponent(safeNextPath(ctx.originalUrl))}`);
    return;
  }
  deny(ctx, 401, "Not authenticated");
}

/**
 * Let only logged-in users through: others get 401 JSON, or a 302 to `loginPath?next=…` when a
 * browser navigates. Authenticated responses get `Cache-Control: no-store`.
 *
 * @example
 * router.get("/account", requireAuth({ loginPath: "/signin" }), (ctx) => { ctx.body = currentUser(ctx); });
 */
export function requireAuth(options: RequireAuthOptions = {}): Middleware {
  refuseUncalledFactory("requireAuth", options, "requireAuth()");
  refuseNonObjectOptions("requireAuth", options, '{ loginPath: "/signin" }');
  const loginPath = options.loginPath ?? "/login";
  if (typeof loginPath !== "string" || safeNextPath(loginPath) !== loginPath) {
    throw new SessionConfigError(`requireAuth({ loginPath }) must be a same-origin path such as "/login", got ${String(loginPath)}`);
  }
  return async function requireAuthMiddleware(ctx: Context, next: Next): Promise<void> {
    if (!currentUser(ctx)) return unauthenticated(ctx, loginPath);
    ctx.set("Cache-Control", "no-store");
    await next();
  };
}

/** Let only users logged in with one of the given roles through (403 otherwise; 401 when logged out). */
export function requireRole(role: string | readonly string[]): Middleware {
  refuseUncalledFactory("requireRole", role, 'requireRole("admin")');
  const roles = new Set(typeof role === "string" ? [role] : Array.isArray(role) ? role : []);
  if (roles.size === 0 || [...roles].some((name) => typeof name !== "string" || name.length === 0)) {
    throw new SessionConfigError(`requireRole(role) needs a non-empty role name or list of names, e.g. requireRole("admin"), got ${JSON.stringify(role) ?? typeof role}`);
  }
  return async function requireRoleMiddleware(ctx: Context, next: Next): Promise<void> {
    const user = currentUser(ctx);
    if (!user) return deny(ctx, 401, "Not authenticated");
    if (user.role === undefined || !roles.has(user.role)) return deny(ctx, 403, "Forbidden");
    ctx.set("Cache-Control", "no-store");
    await next();
  };
}

/**
 * Require that the user proved who they are within `maxAgeMs` (login or markReauthenticated), for
 * sensitive actions such as changing the email or password. 401 `{"error":"Reauthentication required"}`.
 */
export function requireRecentAuth(maxAgeMs: number): Middleware {
  refuseUncalledFactory("requireRecentAuth", maxAgeMs, "requireRecentAuth(5 * 60_000)");
  if (typeof maxAgeMs !== "number" || !Number.isFinite(maxAgeMs) || maxAgeMs <= 0) {
    throw new SessionConfigError(`requireRecentAuth(maxAgeMs) needs a positive number of milliseconds, got ${String(maxAgeMs)}`);
  }
  return async function requireRecentAuthMiddleware(ctx: Context, next: Next): Promise<void> {
    if (!currentUser(ctx)) return deny(ctx, 401, "Not authenticated");
    const authAt = sessionControl(ctx).meta?.authAt;
    if (typeof authAt !== "number" || Date.now() - authAt > maxAgeMs) return deny(ctx, 401, "Reauthentication required");
    ctx.set("Cache-Control", "no-store");
    await next();
  };
}

/** Record that the logged-in user just re-entered their password (resets requireRecentAuth's clock). */
export function markReauthenticated(ctx: Context): void {
  if (!currentUser(ctx)) throw new SessionConfigError("markReauthenticated(ctx) needs a logged-in session; call login() instead", "ERR_SESSIONKIT_MISUSE");
  sessionControl(ctx).updateMeta({ authAt: Date.now() });
}
