/**
 * Errors of the auth layer. Like the core's, each has a stable `code`: branch on `err.code`, never on
 * `instanceof`, because `koa-sessionkit/auth` is a separate bundle with its own copy of the classes.
 */
import { SessionkitError } from "../errors.js";

export { SessionkitError, StoreCapabilityError } from "../errors.js";

/** Longest password accepted, in UTF-8 bytes. Bounds the work one request can ask for. */
export const MAX_PASSWORD_BYTES = 1024;

/**
 * A password over 1024 bytes: refused before any hashing (400, so Koa answers Bad Request).
 * Code `ERR_SESSIONKIT_PASSWORD_TOO_LONG`.
 */
export class PasswordTooLongError extends SessionkitError {
  /** The limit, {@link MAX_PASSWORD_BYTES}. */
  readonly limit = MAX_PASSWORD_BYTES;
  /**
   * Thrown by hashPassword, verifyPassword and breachedPassword before any work.
   * @param bytes - the refused password's length in UTF-8 bytes (the password itself is never kept). */
  constructor(bytes: number) {
    super(
      "ERR_SESSIONKIT_PASSWORD_TOO_LONG",
      `koa-sessionkit: the password is ${bytes} bytes, over the ${MAX_PASSWORD_BYTES}-byte limit; reject longer passwords in your form validation (maxlength) before calling hashPassword/verifyPassword.`,
      400,
    );
  }
}

/**
 * The login throttle's shared counters (Redis or PostgreSQL) could not be read or written. Logins
 * fail closed with 503 + Retry-After: an attacker who can knock the counter store over must not get
 * unlimited guesses. Code `ERR_SESSIONKIT_THROTTLE_UNAVAILABLE`.
 */
export class ThrottleUnavailableError extends SessionkitError {
  /** The counter operation that failed. */
  readonly operation: string;
  /** Koa's default error handler copies these onto the response. */
  readonly headers: Record<string, string> = { "Retry-After": "5", "Cache-Control": "no-store" };
  /**
   * Thrown by loginThrottle's check and record calls.
   * @param cause - what the counter store threw (kept as `err.cause`).
   */
  constructor(operation: string, cause: unknown) {
    super(
      "ERR_SESSIONKIT_THROTTLE_UNAVAILABLE",
      `koa-sessionkit: the login throttle's counter store failed during ${operation}, so the attempt was refused with 503 rather than let through uncounted. Check that the Redis, PostgreSQL or SQLite database given to loginThrottle() is reachable (SQLite: not locked by another program).`,
      503,
      { cause },
    );
    this.operation = operation;
  }
}
