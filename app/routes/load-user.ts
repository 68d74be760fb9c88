/**
 * loadUser: after requireAuth or requireRole, load the session's user from the repository. The session
 * only remembers who logged in; whether that account still exists and may still be used is the
 * repository's answer, asked on every request.
 */
import type { Context, Next } from "koa";
import { currentUser, logout } from "../../src/auth/index.js";
import { noStore, seeOther, sendJson, wantsHtml } from "../http.js";
import type { User } from "../users/repository.js";
import type { RouteDeps } from "./deps.js";

export interface AccountState {
  user: User;
}

export type AccountContext = Context & { state: AccountState };

/**
 * A session whose user was deleted or disabled is worth nothing, so it ends here (logged out, 401
 * JSON or a redirect to /login). Disabling destroys the account's sessions already; this also catches
 * a session a login saved while the disable was running, and sessions of a memory store that the CLI
 * could not reach.
 */
export function loadUser(deps: Pick<RouteDeps, "users">) {
  return async function loadUserMiddleware(ctx: Context, next: Next) {
    noStore(ctx);
    const identity = currentUser(ctx);
    const user = identity ? await deps.users.findById(identity.id) : null;
    if (!user || user.disabledAt !== null) {
      if (identity) await logout(ctx);
      if (wantsHtml(ctx)) return seeOther(ctx, "/login");
      return sendJson(ctx, 401, { error: "Not authenticated" });
    }
    (ctx.state as AccountState).user = user;
    await next();
  };
}
