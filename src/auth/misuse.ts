/**
 * Checks for the ways the auth helpers get wired up wrong: a factory handed to app.use() uncalled
 * (Koa then calls it with (ctx, next), so the "options" are a request), or options of the wrong
 * shape. Each throws a SessionConfigError naming the call that was meant.
 */
import { SessionConfigError } from "../errors.js";

/** True for what Koa passes a middleware first: a request context. */
function isKoaContext(value: unknown): boolean {
  return typeof value === "object" && value !== null && "app" in value && "req" in value && "res" in value;
}

/**
 * Refuse `app.use(requireAuth)` (the factory itself, uncalled): it would be called per request with
 * the context as its options and answer nothing useful. `usage` is the right call, e.g. `requireAuth()`.
 */
export function refuseUncalledFactory(name: string, first: unknown, usage: string): void {
  if (isKoaContext(first)) {
    throw new SessionConfigError(`${name} is a middleware factory: use app.use(${usage}), not app.use(${name})`, "ERR_SESSIONKIT_MISUSE");
  }
}

/** Options must be an object (or left out): `requireAuth("/signin")` would silently drop "/signin". */
export function refuseNonObjectOptions(name: string, options: unknown, example: string): void {
  if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) {
    throw new SessionConfigError(`${name}(options) takes an options object such as ${example}, got ${Array.isArray(options) ? "an array" : typeof options}`);
  }
}
