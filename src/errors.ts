/**
 * Errors a user can act on. Each has a stable `code` so callers branch on codes, never on message text.
 *
 * Programmer misuse (bad options, missing keys) is a `SessionConfigError`, a `TypeError`, thrown when
 * `session()` is called. Untrusted input (a bad cookie) never throws: it becomes a fresh session.
 */

/**
 * Base class of the errors koa-sessionkit throws at request time (store down, session too large,
 * password too long…). Branch on `code`: `instanceof` fails across the separate bundles of
 * `koa-sessionkit` and `koa-sessionkit/auth`.
 *
 * @example
 * app.on("error", (err) => {
 *   if (err.code === "ERR_SESSIONKIT_STORE_UNAVAILABLE") metrics.increment("session_store_down");
 * });
 */
export class SessionkitError extends Error {
  /** Stable `ERR_SESSIONKIT_…` code of this kind of error. */
  readonly code: string;
  /** HTTP status Koa uses when this error escapes a handler. */
  readonly status: number;
  /** Koa shows the message of an error with `expose: true` to the client; ours never do. */
  readonly expose = false;

  /** For subclasses: the code, the full message, the HTTP status and the underlying cause. */
  constructor(code: string, message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/**
 * The stable codes of a `SessionConfigError`, one per kind of misuse. Branch on these, never on text.
 *
 * | code | thrown when |
 * |---|---|
 * | `ERR_SESSIONKIT_CONFIG` | an option (of `session()`, a store, an auth helper) is missing or invalid |
 * | `ERR_SESSIONKIT_MISSING_APP` | `session()` was called without the Koa app |
 * | `ERR_SESSIONKIT_NOT_INSTALLED` | an auth helper or `csrfToken` was used on an app without `session()` (there `ctx.session` is `undefined`, as in koa-session) |
 * | `ERR_SESSIONKIT_MISUSE` | an API was called with a wrong argument at request time (`ctx.session = 5`) |
 * | `ERR_SESSIONKIT_GENID` | a custom `genid` returned something that can't be a cookie value |
 * | `ERR_SESSIONKIT_MISSING_PEER` | a store or helper needs an optional peer dependency that is not installed |
 */
export type SessionConfigErrorCode =
  | "ERR_SESSIONKIT_CONFIG"
  | "ERR_SESSIONKIT_MISSING_APP"
  | "ERR_SESSIONKIT_NOT_INSTALLED"
  | "ERR_SESSIONKIT_MISUSE"
  | "ERR_SESSIONKIT_GENID"
  | "ERR_SESSIONKIT_MISSING_PEER";

/**
 * Misuse: bad options or a wrong call, thrown where it happens (at start-up for options). A TypeError,
 * as Koa throws for misuse. The message starts with the package name; `message` here is the rest.
 */
export class SessionConfigError extends TypeError {
  /** Which kind of misuse; see {@link SessionConfigErrorCode}. */
  readonly code: SessionConfigErrorCode;
  /**
   * Thrown by the library where the misuse happens.
   * @param message - the cause and the fix, without the "koa-sessionkit: " prefix, which is added.
   */
  constructor(message: string, code: SessionConfigErrorCode = "ERR_SESSIONKIT_CONFIG", options?: { cause?: unknown }) {
    super(`koa-sessionkit: ${message}`, options);
    this.name = "SessionConfigError";
    this.code = code;
  }
}

/**
 * The session store rejected, threw or did not answer in time. The middleware answers 503 with
 * Retry-After; the client's cookie is kept, since the session is probably fine once the store is back.
 * Code `ERR_SESSIONKIT_STORE_UNAVAILABLE`, status 503.
 */
export class StoreUnavailableError extends SessionkitError {
  /** The store call that failed: "get", "set", "merge", "touch", "destroy", … */
  readonly operation: string;
  /** true when the store did not answer within storeTimeout; false when it failed. */
  readonly timedOut: boolean;
  /**
   * Thrown by the middleware's store calls; a custom store may throw it too.
   * @param cause - what the store threw or rejected with (kept as `err.cause`, never shown to the client).
   */
  constructor(operation: string, cause: unknown, timedOut = false) {
    // The store's own reason, when it gave one, so a refused command (a store that can't take an
    // argument) doesn't read like an outage. It goes to logs only; the client sees a plain 503.
    const reason = !timedOut && cause instanceof Error && cause.message ? ` (${cause.message.slice(0, 200)})` : "";
    const why = timedOut ? "did not answer in time" : `failed${reason}`;
    super(
      "ERR_SESSIONKIT_STORE_UNAVAILABLE",
      `koa-sessionkit: the session store ${why} during ${operation}; the request was answered with 503 and made no further store calls. Check that the store's server is reachable and accepts the call, or raise the storeTimeout option if it is only slow.`,
      503,
      { cause },
    );
    this.operation = operation;
    this.timedOut = timedOut;
    // Koa's default error handler copies err.headers onto the response, so a StoreUnavailableError
    // that escapes a handler (for example from an awaited regenerate()) still says when to retry.
    this.headers = { "Retry-After": "5", "Cache-Control": "no-store" };
  }
  /** Retry-After and Cache-Control: no-store; Koa's default error handler copies them onto the response. */
  readonly headers: Record<string, string>;
}

/**
 * A cookie-mode session grew past what a browser keeps (4096 bytes per cookie): nothing was sent.
 * Code `ERR_SESSIONKIT_SESSION_TOO_LARGE`, status 500.
 */
export class SessionTooLargeError extends SessionkitError {
  /** Size the Set-Cookie value would have had, in bytes. */
  readonly size: number;
  /** The most a browser keeps, in bytes. */
  readonly limit: number;
  /** Thrown by cookie mode's commit; not meant to be constructed by applications. */
  constructor(size: number, limit: number) {
    super(
      "ERR_SESSIONKIT_SESSION_TOO_LARGE",
      `koa-sessionkit: the sealed session cookie would be ${size} bytes, over the ${limit}-byte limit browsers keep, so it was not sent. Store less in the session, or use a server-side store (mode: "store" with RedisStore, PostgresStore or SqliteStore).`,
      500,
    );
    this.size = size;
    this.limit = limit;
  }
}

/**
 * An auth helper needs a store capability (for example the per-user index) that this store lacks.
 * Code `ERR_SESSIONKIT_STORE_CAPABILITY`, status 500.
 */
export class StoreCapabilityError extends SessionkitError {
  /**
   * Thrown by auth helpers before they touch the store.
   * @param capability - what is missing (e.g. "listByUser").
   * @param fix - what to configure instead.
   */
  constructor(capability: string, fix: string) {
    super(
      "ERR_SESSIONKIT_STORE_CAPABILITY",
      `koa-sessionkit: the configured session store does not implement ${capability}; ${fix}`,
      500,
    );
  }
}
