/**
 * Operator API (JSON): disable and enable accounts.
 *
 *   POST /admin/users/disable {"email"} → {"ok":true,"revoked":N}: logins refused, every session ended
 *   POST /admin/users/enable  {"email"} → {"ok":true}: logins allowed again (old sessions stay ended)
 *   400 a bad body, or an admin disabling themself · 401 not logged in · 403 not an admin
 *   404 {"error":"No such user"} · 503 the store failed midway (repeating the request is safe)
 *
 * Only for a session with role "admin" (requireRole) whose account is still an enabled admin in the
 * repository. Behind the same csrf() as every other POST: a cross-site request is refused by its
 * Origin / Sec-Fetch-Site, and a form post needs the session's _csrf token.
 */
import Router from "@koa/router";
import type { Context, Next } from "koa";
import { auditEvent, requireRole } from "../../src/auth/index.js";
import { sendJson, stringField } from "../http.js";
import { disableUser, enableUser } from "../users/disable.js";
import { isPlausibleEmail, normalizeEmail, type Role, type User } from "../users/repository.js";
import type { RouteDeps } from "./deps.js";
import { loadUser, type AccountContext } from "./load-user.js";

const ADMIN_ROLE: Role = "admin";
const BODY_HINT = 'send a JSON body such as {"email":"user@example.com"}';

/** The session's role was copied at login, so a demoted admin keeps it until they log in again. */
async function stillAdmin(ctx: Context, next: Next): Promise<void> {
  if ((ctx as AccountContext).state.user.role !== ADMIN_ROLE) return sendJson(ctx, 403, { error: "Forbidden" });
  await next();
}

/** The account the body names, or null after answering 400 or 404. */
async function targetOf(ctx: Context, deps: RouteDeps): Promise<User | null> {
  const input = stringField(ctx.request.body, "email");
  if (input === undefined) {
    sendJson(ctx, 400, { error: `email is missing or not a string; ${BODY_HINT}` });
    return null;
  }
  const email = normalizeEmail(input);
  if (!isPlausibleEmail(email)) {
    sendJson(ctx, 400, { error: `email is not an email address; ${BODY_HINT}` });
    return null;
  }
  const user = await deps.users.findByEmail(email);
  if (!user) sendJson(ctx, 404, { error: "No such user" });
  return user;
}

export function adminRoutes(deps: RouteDeps): Router {
  const router = new Router({ prefix: "/admin/users" });
  const guard = requireRole(ADMIN_ROLE);
  const withUser = loadUser(deps);

  router.post("/disable", guard, withUser, stillAdmin, async (ctx) => {
    const admin = (ctx as AccountContext).state.user;
    const target = await targetOf(ctx, deps);
    if (!target) return;
    if (target.id === admin.id) {
      // A slip would lock the admin out (perhaps the last one) with only the CLI to undo it; another admin can do it on purpose.
      return sendJson(ctx, 400, { error: "You cannot disable your own account; ask another admin, or run npm run user:disable" });
    }
    let revoked: number;
    try {
      revoked = await disableUser(deps.users, deps.store, target);
    } catch (error) {
      deps.logger.error({ err: error, adminId: admin.id, userId: target.id }, "disabling an account failed");
      ctx.set("Retry-After", "1");
      return sendJson(ctx, 503, {
        error: "The account could not be disabled completely because the database or session store failed; repeat the request (it is safe to repeat)",
      });
    }
    deps.logger.info({ adminId: admin.id, userId: target.id, revoked }, "account disabled");
    auditEvent(ctx, "auth.account_disabled", { userId: target.id, reason: `by admin ${admin.id}; ${revoked} session(s) ended` });
    sendJson(ctx, 200, { ok: true, revoked });
  });

  router.post("/enable", guard, withUser, stillAdmin, async (ctx) => {
    const admin = (ctx as AccountContext).state.user;
    const target = await targetOf(ctx, deps);
    if (!target) return;
    await enableUser(deps.users, target);
    deps.logger.info({ adminId: admin.id, userId: target.id }, "account enabled");
    sendJson(ctx, 200, { ok: true });
  });

  return router;
}
