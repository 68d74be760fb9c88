/**
 * Login and logout, for the JSON API and the HTML form.
 *
 * Login never says whether an account exists or is disabled: an unknown email runs verifyDummy and a
 * disabled one verifies its password as usual, so the status, body, cookies and time match a wrong
 * password. The throttle counts failures (these included) per email and per client.
 */
import Router from "@koa/router";
import {
  csrfToken,
  currentUser,
  hashPassword,
  login,
  logout,
  needsRehash,
  safeNextPath,
  tooManyAttempts,
  verifyDummy,
  verifyPassword,
} from "../../src/auth/index.js";
import { noStore, seeOther, sendHtml, sendJson, stringField, wantsHtml } from "../http.js";
import { normalizeEmail } from "../users/repository.js";
import { loginPage } from "../views/pages.js";
import type { RouteDeps } from "./deps.js";

const MAX_PASSWORD_BYTES = 1024;
const LOGIN_ERROR = "Invalid email or password";

function nextFrom(value: unknown): string | undefined {
  // safeNextPath answers "/" for anything that is not a same-origin path; then the default applies.
  const safe = safeNextPath(value);
  return safe === "/" ? undefined : safe;
}

function minutes(seconds: number): string {
  const count = Math.max(1, Math.ceil(seconds / 60));
  return `${count} minute${count === 1 ? "" : "s"}`;
}

export function loginRoutes(deps: RouteDeps): Router {
  const router = new Router();

  router.get("/", (ctx) => {
    noStore(ctx);
    seeOther(ctx, currentUser(ctx) ? "/dashboard" : "/login");
  });

  router.get("/login", (ctx) => {
    noStore(ctx);
    const next = nextFrom(ctx.query.next);
    if (currentUser(ctx)) return seeOther(ctx, next ?? "/dashboard");
    const notice = ctx.query.loggedOut !== undefined ? "You have been logged out." : undefined;
    // A visitor without a session gets the form's CSRF secret in a sealed cookie: loading the page
    // creates no store entry (docs/auth.md, "Anonymous visitors").
    sendHtml(ctx, 200, loginPage({ csrfToken: csrfToken(ctx), next, notice }));
  });

  router.post("/login", async (ctx) => {
    noStore(ctx);
    const html = wantsHtml(ctx);
    const body = ctx.request.body;
    const emailInput = stringField(body, "email");
    const password = stringField(body, "password");
    const next = nextFrom(stringField(body, "next") ?? ctx.query.next);
    const typedEmail = emailInput?.trim() ?? "";

    const refuse = (status: number, jsonError: string, htmlError: string) => {
      if (html) sendHtml(ctx, status, loginPage({ csrfToken: csrfToken(ctx), email: typedEmail, next, error: htmlError }));
      else sendJson(ctx, status, { error: jsonError });
    };

    if (emailInput === undefined || password === undefined || typedEmail === "" || password === "") {
      return refuse(400, "Email and password are required", "Enter your email and password.");
    }
    if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
      return refuse(400, `Password must be at most ${MAX_PASSWORD_BYTES} bytes`, `Passwords are at most ${MAX_PASSWORD_BYTES} characters.`);
    }
    const email = normalizeEmail(emailInput);

    const verdict = await deps.throttle.check(ctx, email);
    if (!verdict.allowed) {
      if (html) {
        ctx.set("Retry-After", String(verdict.retryAfterSeconds));
        return sendHtml(
          ctx,
          429,
          loginPage({
            csrfToken: csrfToken(ctx),
            email: typedEmail,
            next,
            error: `Too many attempts. Try again in ${minutes(verdict.retryAfterSeconds)}.`,
          }),
        );
      }
      tooManyAttempts(ctx, verdict.retryAfterSeconds);
      return;
    }

    const user = await deps.users.findByEmail(email);
    const valid = user ? await verifyPassword(user.passwordHash, password) : await verifyDummy(password);
    // A disabled account is refused after the same verification work, with the same answer, and counts
    // as a failure: nobody learns from the response or its timing that the account exists or is disabled.
    if (!user || !valid || user.disabledAt !== null) {
      await deps.throttle.fail(ctx, email, user ? { userId: user.id } : undefined);
      return refuse(401, "Invalid credentials", LOGIN_ERROR);
    }
    await deps.throttle.succeed(ctx, email);
    if (needsRehash(user.passwordHash)) {
      // Upgrade old or weaker hashes while we hold the plain password; it is never kept anywhere.
      await deps.users.updatePassword(user.id, await hashPassword(password));
    }
    await login(ctx, { id: user.id, role: user.role });
    if (html) return seeOther(ctx, next ?? "/dashboard");
    sendJson(ctx, 200, { ok: true });
  });

  router.post("/logout", async (ctx) => {
    noStore(ctx);
    await logout(ctx);
    if (wantsHtml(ctx)) return seeOther(ctx, "/login?loggedOut=1");
    sendJson(ctx, 200, { ok: true });
  });

  return router;
}
