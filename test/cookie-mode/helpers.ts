/**
 * Shared by the cookie-mode security tests: a small app whose routes log in, read and grow the
 * session, and helpers to read Set-Cookie headers and replay cookies by hand (as an attacker would).
 */
import Koa from "koa";
import type { Context } from "koa";
import type { Response } from "supertest";
import session from "../../src/index.js";
import type { SessionOptions } from "../../src/index.js";
import { parseSetCookies } from "../helpers/set-cookie.js";

export const KEY_A = "key-A-".padEnd(40, "a");
export const KEY_B = "key-B-".padEnd(40, "b");
export const KEY_C = "key-C-".padEnd(40, "c");

export const SECRET = "correct-horse-battery-staple";

export interface TestApp {
  app: Koa;
  /** Errors Koa emitted (app.on("error")), for asserting their type without a stack in the body. */
  errors: unknown[];
}

/**
 * Routes:
 *   /login       sets user "alice" and a secret
 *   /whoami      { user, isNew } without changing the session
 *   /grow?n=N    stores N characters of data
 *   /logout      ctx.session = null
 *   /touch       changes a counter (forces a save)
 */
export function cookieApp(keys: string[], options: SessionOptions = {}): TestApp {
  const app = new Koa();
  app.keys = keys;
  app.silent = true;
  const errors: unknown[] = [];
  app.on("error", (err: unknown) => errors.push(err));
  app.use(session({ mode: "cookie", ...options }, app));
  app.use((ctx: Context) => {
    const current = ctx.session;
    if (!current) throw new Error("session missing");
    switch (ctx.path) {
      case "/login":
        current.user = "alice";
        current.secret = SECRET;
        ctx.body = "ok";
        return;
      case "/grow":
        current.blob = "z".repeat(Number(ctx.query.n ?? 0));
        ctx.body = "grown";
        return;
      case "/logout":
        ctx.session = null;
        ctx.body = "bye";
        return;
      case "/touch":
        current.count = ((current.count as number | undefined) ?? 0) + 1;
        ctx.body = { count: current.count };
        return;
      default:
        ctx.body = { user: (current.user as string | undefined) ?? null, isNew: current.isNew };
    }
  });
  return { app, errors };
}

export interface SetCookie {
  value: string;
  /** Lower-cased attribute names → values ("" for flags). */
  attributes: Record<string, string>;
}

/** Set-Cookie headers by cookie name (the last one wins, as in a browser). */
export function setCookies(res: Response): Map<string, SetCookie> {
  const cookies = new Map<string, SetCookie>();
  for (const { name, value, attrs } of parseSetCookies(res)) {
    const attributes = Object.fromEntries(Object.entries(attrs).map(([key, attr]) => [key, attr === true ? "" : attr]));
    cookies.set(name, { value, attributes });
  }
  return cookies;
}

/** The value of one cookie set by a response; fails the test when it is missing or cleared. */
export function cookieValue(res: Response, name = "koa.sess"): string {
  const value = setCookies(res).get(name)?.value;
  if (!value) throw new Error(`expected a Set-Cookie for ${name}, got ${JSON.stringify(res.headers["set-cookie"])}`);
  return value;
}

/** A Cookie request header. */
export function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies)
    .map(([name, value]) => `${name}=${value}`)
    .join("; ");
}
