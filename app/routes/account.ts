/**
 * Pages and API of a signed-in user: the dashboard, the list of their sessions (with revoke), and
 * password change (which signs out every other session and regenerates this one).
 */
import Router from "@koa/router";
import type { Context } from "koa";
import {
  auditEvent,
  csrfToken,
  hashPassword,
  listSessions,
  login,
  logout,
  logoutEverywhere,
  requireAuth,
  revokeSession,
  verifyPassword,
} from "../../src/auth/index.js";
import { seeOther, sendHtml, sendJson, stringField, wantsHtml } from "../http.js";
import { dashboardPage, passwordPage, sessionsPage } from "../views/pages.js";
import { MAX_PASSWORD_BYTES, newPasswordProblem } from "../passwords.js";
import type { RouteDeps } from "./deps.js";
import { loadUser, type AccountContext } from "./load-user.js";


const NOTICES: Record<string, string> = {
  revoked: "The session was signed out.",
  "revoked-others": "All other sessions were signed out.",
  "password-changed": "Your password was changed. Every other session was signed out.",
};

function noticeFrom(ctx: Context): string | undefined {
  const key = ctx.query.notice;
  // Own keys only: ?notice=constructor must not find Object.prototype.constructor.
  return typeof key === "string" && Object.hasOwn(NOTICES, key) ? NOTICES[key] : undefined;
}

interface SessionView {
  id: string;
  current: boolean;
  createdAt: number;
  lastSeenAt: number;
  ip?: string;
  userAgent?: string;
}

async function sessionsOf(ctx: Context): Promise<SessionView[]> {
  const list = await listSessions(ctx);
  return list.map((entry) => ({
    id: entry.id,
    current: entry.current,
    createdAt: entry.createdAt,
    lastSeenAt: entry.lastSeenAt,
    ip: entry.ip,
    userAgent: entry.userAgent,
  }));
}

export function accountRoutes(deps: RouteDeps): Router {
  const router = new Router();
  const guard = requireAuth({ loginPath: "/login" });
  const withUser = loadUser(deps);

  router.get("/dashboard", guard, withUser, (ctx) => {
    const { user } = (ctx as AccountContext).state;
    if (wantsHtml(ctx)) return sendHtml(ctx, 200, dashboardPage({ user, csrfToken: csrfToken(ctx) }));
    sendJson(ctx, 200, { userId: user.id });
  });

  router.get("/account/sessions", guard, withUser, async (ctx) => {
    const { user } = (ctx as AccountContext).state;
    const sessions = await sessionsOf(ctx);
    if (wantsHtml(ctx)) {
      return sendHtml(ctx, 200, sessionsPage({ user, sessions, csrfToken: csrfToken(ctx), notice: noticeFrom(ctx) }));
    }
    sendJson(ctx, 200, { sessions });
  });

  const revokeOne = async (ctx: Context) => {
    const handle = String(ctx.params.id ?? "");
    const mine = (await sessionsOf(ctx)).find((entry) => entry.id === handle);
    let revoked = false;
    if (mine?.current) {
      // Revoking the session you are using is logging out; the cookie goes too.
      await logout(ctx);
      revoked = true;
    } else if (mine) {
      revoked = await revokeSession(ctx, handle);
    }
    if (wantsHtml(ctx)) {
      if (mine?.current) return seeOther(ctx, "/login?loggedOut=1");
      return seeOther(ctx, revoked ? "/account/sessions?notice=revoked" : "/account/sessions");
    }
    if (!revoked) return sendJson(ctx, 404, { error: "Session not found" });
    sendJson(ctx, 200, { ok: true });
  };
  router.delete("/account/sessions/:id", guard, withUser, revokeOne);
  router.post("/account/sessions/:id/revoke", guard, withUser, revokeOne);

  router.post("/account/sessions/revoke-others", guard, withUser, async (ctx) => {
    const revoked = await logoutEverywhere(ctx, { exceptCurrent: true });
    if (wantsHtml(ctx)) return seeOther(ctx, "/account/sessions?notice=revoked-others");
    sendJson(ctx, 200, { ok: true, revoked });
  });

  router.get("/account/password", guard, withUser, (ctx) => {
    const { user } = (ctx as AccountContext).state;
    sendHtml(ctx, 200, passwordPage({ user, csrfToken: csrfToken(ctx), notice: noticeFrom(ctx) }));
  });

  router.post("/account/password", guard, withUser, async (ctx) => {
    const { user } = (ctx as AccountContext).state;
    const html = wantsHtml(ctx);
    const body = ctx.request.body;
    const currentPassword = stringField(body, "currentPassword");
    const newPassword = stringField(body, "newPassword");
    const refuse = (status: number, jsonError: string, htmlError = jsonError) => {
      if (html) sendHtml(ctx, status, passwordPage({ user, csrfToken: csrfToken(ctx), error: htmlError }));
      else sendJson(ctx, status, { error: jsonError });
    };

    if (currentPassword === undefined || newPassword === undefined || currentPassword === "") {
      return refuse(400, "currentPassword and newPassword are required", "Enter your current and your new password.");
    }
    if (Buffer.byteLength(currentPassword, "utf8") > MAX_PASSWORD_BYTES || Buffer.byteLength(newPassword, "utf8") > MAX_PASSWORD_BYTES) {
      return refuse(400, `Passwords must be at most ${MAX_PASSWORD_BYTES} bytes`);
    }
    if (newPassword === currentPassword) return refuse(400, "New password must differ from the current one");
    const problem = await newPasswordProblem(newPassword, {
      breachedPasswordUrl: deps.config.breachedPasswordUrl,
      onUnchecked: () => deps.logger.warn({ userId: user.id }, "breached-password check unavailable; new password accepted unchecked"),
    });
    if (problem !== undefined) return refuse(400, problem);
    // The same throttle as login: a stolen session must not become a password-guessing oracle.
    const verdict = await deps.throttle.check(ctx, user.email);
    if (!verdict.allowed) {
      ctx.set("Retry-After", String(verdict.retryAfterSeconds));
      return refuse(429, "Too many attempts");
    }
    if (!(await verifyPassword(user.passwordHash, currentPassword))) {
      await deps.throttle.fail(ctx, user.email, { userId: user.id });
      return refuse(401, "Invalid credentials", "Your current password is not correct.");
    }
    await deps.throttle.succeed(ctx, user.email);
    // Anyone holding another session of this account is out, before the password changes: a store
    // failure here (503) leaves the old password in place rather than a new one with old sessions alive.
    await logoutEverywhere(ctx, { exceptCurrent: true });
    await deps.users.updatePassword(user.id, await hashPassword(newPassword));
    auditEvent(ctx, "auth.password_changed", { userId: user.id });
    // This session gets a fresh id.
    await login(ctx, { id: user.id, role: user.role });
    if (html) return seeOther(ctx, "/account/password?notice=password-changed");
    sendJson(ctx, 200, { ok: true });
  });

  return router;
}
