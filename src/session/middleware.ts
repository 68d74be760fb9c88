/**
 * `session(options, app)`: the koa-session 7 compatible middleware.
 *
 * @example
 * import Koa from "koa";
 * import session from "koa-sessionkit";
 * const app = new Koa();
 * app.keys = [process.env.SESSION_KEY_1!, process.env.SESSION_KEY_2!];
 * app.use(session({ maxAge: 86_400_000 }, app));
 * app.use((ctx) => { ctx.session.views = (ctx.session.views ?? 0) + 1; ctx.body = ctx.session.views; });
 */
import type { KoaApp } from "../koa-app.js";
import type { Context, Middleware, Next } from "koa";
import { debuglog } from "node:util";
import { SessionConfigError, type SessionkitError } from "../errors.js";
import { addAuditListener } from "../events.js";
import { Sealer } from "../crypto/seal.js";
import { VerifiedCache } from "../crypto/verified-cache.js";
import { MemoryStore } from "../stores/memory.js";
import { ContextSession } from "./context-session.js";
import type { Runtime, SharedState } from "./runtime.js";
import { CookieTransport, StoreTransport, type Transport } from "./transport.js";
import type { SessionControl } from "./types.js";
import { createLegacyReader } from "./legacy.js";
import { resolveOptions, type ResolvedOptions } from "./options.js";
import { isStoreUnavailable } from "../stores/call.js";
import type { SessionOptions } from "./types.js";

const debug = debuglog("koa-sessionkit:session");

/** Where a request's controller lives; Symbol.for so every bundle of the package finds the same one. */
export const CONTEXT_SESSION = Symbol.for("koa-sessionkit.contextSession");
const RUNTIME = Symbol.for("koa-sessionkit.runtime");

/** Returning cookies remembered per middleware: ~10k entries is a few MB at most. */
const VERIFIED_CACHE_ENTRIES = 10_000;
const OPENED_CACHE_ENTRIES = 2_000;

type Carrier = { [CONTEXT_SESSION]?: ContextSession; [RUNTIME]?: Runtime };


function isApp(value: unknown): value is KoaApp {
  return typeof value === "object" && value !== null && typeof (value as KoaApp).use === "function" && "context" in value;
}

/** The controller of this request, created on first use (even before the middleware ran). */
export function contextSession(ctx: Context): ContextSession {
  const carrier = ctx as unknown as Carrier;
  let controller = carrier[CONTEXT_SESSION];
  if (!controller) {
    const runtime = carrier[RUNTIME];
    if (!runtime) {
      throw new SessionConfigError(
        "an auth helper (login, requireAuth, csrfToken, …) was used on an app without the session() middleware; add app.use(session(opts, app)) before the code that uses it",
        "ERR_SESSIONKIT_NOT_INSTALLED",
      );
    }
    controller = new ContextSession(ctx, runtime);
    carrier[CONTEXT_SESSION] = controller;
  }
  return controller;
}

/** What auth needs of this request's session (a narrow view of the controller). */
export function sessionControl(ctx: Context): SessionControl {
  return contextSession(ctx);
}

/**
 * The session middleware, koa-session 7's older argument order: `session(app, options)`.
 * Same behaviour as `session(options, app)`.
 */
export function session(app: KoaApp, options?: SessionOptions): Middleware;
/**
 * The session middleware: installs `ctx.session` and `ctx.sessionOptions` on `app`, loads the session
 * before your handlers and saves what they changed after them. A drop-in for koa-session 7's
 * `session(opts, app)`: same options, defaults and events, with HMAC-SHA256 signing (keys of 32 bytes
 * or more, from `app.keys` or `options.keys`), 256-bit ids, hashed store keys and, with
 * `mode: "cookie"`, AES-256-GCM sealed cookies.
 *
 * Throws SessionConfigError at start-up for a missing app, missing or short keys and invalid options.
 * A store that fails or takes longer than `storeTimeout` answers 503 with Retry-After.
 *
 * @example
 * import Koa from "koa";
 * import session from "koa-sessionkit";
 * import { RedisStore } from "koa-sessionkit/redis";
 * const app = new Koa();
 * app.keys = (process.env.SESSION_KEYS ?? "").split(","); // `npx koa-sessionkit keys` makes them
 * app.use(session({ maxAge: 86_400_000, store: new RedisStore({ url: process.env.REDIS_URL }) }, app));
 * app.use((ctx) => {
 *   ctx.session.views = (ctx.session.views ?? 0) + 1;
 *   ctx.body = `${ctx.session.views} views`;
 * });
 */
export function session(options: SessionOptions | undefined, app: KoaApp): Middleware;
export function session(first: KoaApp | SessionOptions | undefined, second?: KoaApp | SessionOptions): Middleware {
  const [app, input] = isApp(first) ? [first, (second ?? {}) as SessionOptions] : [second, (first ?? {}) as SessionOptions];
  if (!isApp(app)) {
    // koa-session's own words first ("app instance required: `session(opts, app)`"), then the fix.
    throw new SessionConfigError(
      "app instance required: `session(opts, app)`; pass your Koa app, e.g. app.use(session({ maxAge: 86_400_000 }, app))",
      "ERR_SESSIONKIT_MISSING_APP",
    );
  }

  const options = resolveOptions(input, app.keys);
  const runtime = createRuntime(options);
  // Installed twice on one app (koa-session allows it): as in koa-session, the first installation's
  // options serve every request, and the second middleware, reached inside the first, steps aside.
  if (!defineContext(app, runtime)) debug("session() installed twice on one app; the first installation's options apply");
  if (input.onEvent !== undefined) addAuditListener(app, input.onEvent);

  return async function sessionMiddleware(ctx: Context, next: Next): Promise<void> {
    const controller = contextSession(ctx);
    if (!controller.enter()) return next();
    if (controller.store) {
      try {
        // Awaited only when the store is asynchronous: a MemoryStore read costs no promise.
        const loading = controller.load();
        if (loading) await loading;
      } catch (err) {
        if (isStoreUnavailable(err)) return respondUnavailable(ctx, err);
        throw err;
      }
    }
    let handlerFailed = false;
    let unavailable: SessionkitError | undefined;
    try {
      await next();
    } catch (err) {
      handlerFailed = true;
      // A store or the login throttle failed inside the handler (logout(), listSessions(), a throttle
      // check) and no middleware after this one handled it: the same JSON 503 a failed load or save
      // gets (answered after the commit, so nothing it sets survives), not Koa's text/plain one, so
      // an API client sees one answer for one outage whichever call hit it.
      if (isUnavailable(err)) unavailable = err;
      else throw err;
    } finally {
      if (controller.options.autoCommit) {
        const committing = commitAfter(ctx, controller, handlerFailed);
        if (committing) await committing;
      }
    }
    if (unavailable) respondUnavailable(ctx, unavailable);
  };
}

/** The commit after the handler; undefined when it finished synchronously (a read: nothing to write). */
function commitAfter(ctx: Context, controller: ContextSession, handlerFailed: boolean): Promise<void> | undefined {
  let committing: Promise<void> | undefined;
  try {
    committing = controller.commitNow();
  } catch (err) {
    commitFailed(ctx, err, handlerFailed);
    return undefined;
  }
  return committing?.then(undefined, (err: unknown) => commitFailed(ctx, err, handlerFailed));
}

function commitFailed(ctx: Context, err: unknown, handlerFailed: boolean): void {
  // The handler's own error is the one the client should see.
  if (handlerFailed) {
    debug("commit after a failed handler also failed: %s", (err as Error).message);
    return;
  }
  if (isStoreUnavailable(err)) return respondUnavailable(ctx, err);
  throw err;
}

/** The library's own 503s: a session store or the login throttle's counter store is unavailable. */
function isUnavailable(err: unknown): err is SessionkitError {
  const { code, status } = (err ?? {}) as { code?: unknown; status?: unknown };
  return status === 503 && (code === "ERR_SESSIONKIT_STORE_UNAVAILABLE" || code === "ERR_SESSIONKIT_THROTTLE_UNAVAILABLE");
}

/**
 * Headers that describe a response body or a result, set by a handler before its store call failed:
 * they would describe the 503 (a gzip Content-Encoding over a plain JSON body can't be decoded).
 * Others stay (CORS, security headers: Koa's own error handling would drop them too, which is why
 * @koa/cors has keepHeadersOnError).
 */
const BODY_HEADERS = ["Set-Cookie", "Content-Encoding", "Content-Disposition", "Content-Language", "Content-Range", "ETag", "Last-Modified", "Location", "Expires"];

/** 503 with Retry-After and a generic body; the client's cookie stays as it was. */
function respondUnavailable(ctx: Context, err: SessionkitError): void {
  ctx.app.emit("error", err, ctx);
  for (const name of BODY_HEADERS) ctx.remove(name);
  ctx.status = 503;
  ctx.set("Retry-After", "5");
  ctx.set("Cache-Control", "no-store");
  ctx.body = { error: "Service temporarily unavailable" };
}

/** What every request of this middleware shares, and the transport chosen once for all of them. */
function createRuntime(options: ResolvedOptions): Runtime {
  const shared: SharedState = {
    options,
    verified: new VerifiedCache(VERIFIED_CACHE_ENTRIES),
    storeKeys: new VerifiedCache(VERIFIED_CACHE_ENTRIES),
    // Sealed cookies run to 4 kB each, so fewer of them.
    opened: new VerifiedCache(OPENED_CACHE_ENTRIES),
    legacy: options.legacy ? createLegacyReader(options) : undefined,
  };
  return { ...shared, transportFor: chooseTransport(shared) };
}

function chooseTransport(shared: SharedState): (ctx: Context) => Transport {
  const { options } = shared;
  if (options.mode === "cookie") {
    if (!options.keyring) throw new SessionConfigError("cookie mode needs keys to seal with; set app.keys");
    const transport = new CookieTransport(shared, new Sealer(options.keyring));
    return () => transport;
  }
  const ContextStore = options.ContextStore;
  // A store made per request (koa-session's ContextStore): the one case a transport is per request.
  if (ContextStore) return (ctx) => new StoreTransport(shared, new ContextStore(ctx));
  const transport = new StoreTransport(shared, options.store ?? new MemoryStore());
  return () => transport;
}

/** Install ctx.session on the app; false when an earlier session() on this app already did. */
function defineContext(app: KoaApp, runtime: Runtime): boolean {
  const context = app.context as unknown as Carrier & object;
  if (Object.prototype.hasOwnProperty.call(context, RUNTIME)) return false;
  Object.defineProperty(context, RUNTIME, { value: runtime, configurable: true });
  Object.defineProperties(context, {
    session: {
      get(this: Context) {
        return contextSession(this).get();
      },
      set(this: Context, value: unknown) {
        contextSession(this).set(value);
      },
      configurable: true,
    },
    sessionOptions: {
      get(this: Context) {
        return contextSession(this).sessionOptions;
      },
      configurable: true,
    },
  });
  return true;
}
