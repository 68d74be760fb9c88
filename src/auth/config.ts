/**
 * The auth layer's settings, shared between the `auth()` middleware and `login()`. They travel on a
 * Symbol.for key (on the app and on each request), never in module state, because this bundle may be
 * loaded beside another copy of the package.
 */
import type { Context } from "koa";

export const AUTH_CONFIG = Symbol.for("koa-sessionkit.authConfig");

export interface AuthConfig {
  /** A logged-in session unused for this long ends. */
  readonly idleTimeoutMs: number;
  /** A logged-in session ends this long after login, however active. */
  readonly absoluteTimeoutMs: number;
  /** lastSeenAt is written at most this often (one store touch). */
  readonly touchIntervalMs: number;
}

export const DEFAULT_AUTH_CONFIG: AuthConfig = Object.freeze({
  idleTimeoutMs: 30 * 60 * 1000,
  absoluteTimeoutMs: 12 * 60 * 60 * 1000,
  touchIntervalMs: 60 * 1000,
});

type Carrier = { [AUTH_CONFIG]?: AuthConfig };

/** This request's config: the auth() middleware's, else the app's, else the defaults. */
export function authConfigOf(ctx: Context): AuthConfig {
  return (ctx as unknown as Carrier)[AUTH_CONFIG] ?? (ctx.app as unknown as Carrier)[AUTH_CONFIG] ?? DEFAULT_AUTH_CONFIG;
}

export function attachAuthConfig(ctx: Context, config: AuthConfig): void {
  (ctx as unknown as Carrier)[AUTH_CONFIG] = config;
  const app = ctx.app as unknown as Carrier;
  // Also on the app, so login() called outside the middleware chain (tests, jobs) finds it.
  if (!app[AUTH_CONFIG]) app[AUTH_CONFIG] = config;
}
