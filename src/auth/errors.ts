/**
 * Errors of the auth layer. Like the core's, each has a stable `code`: branch on `err.code`, never on
 * `instanceof`, because `koa-sessionkit/auth` is a separate bundle with its own copy of the classes.
 */
import { SessionkitError } from "../errors.js";

export { SessionkitError, StoreCapabilityError } from "../errors.js";

/** Longest password accepted, in UTF-8 bytes. Bounds the work one request can ask for. */
export const MAX_PASSWORD_BYTES = 1024;

/** A password over 1024 bytes: refused before any hashing (400, so Koa answers Bad Request). */
export class PasswordTooLongError extends SessionkitError {
  readonly limit = MAX_PASSWORD_BYTES;
  constructor(bytes: number) {
    super(
      "ERR_SESSIONKIT_PASSWORD_TOO_LONG",
      `koa-sessionkit: the password is ${bytes} bytes, over the ${MAX_PASSWORD_BYTES}-byte limit; reject longer passwords in your form validation (maxlength) before calling hashPassword/verifyPassword.`,
      400,
    );
  }
}
