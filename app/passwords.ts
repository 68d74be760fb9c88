/**
 * The reference app's rule for new passwords (password change and `npm run user:add`):
 * - at least 12 characters (ASVS 4.0.3 V2.1.1, 5.0 6.2.1), counted in code points so "🔑" is one,
 *   and not only whitespace;
 * - at most 1024 bytes, the limit the hashing helpers enforce anyway;
 * - not one of the ~49,000 most common passwords (V2.1.7, 6.2.4), compared case-insensitively.
 *
 * - with BREACHED_PASSWORD_CHECK=hibp, not in Pwned Passwords (V2.1.7, 6.2.12) through the library's
 *   breachedPassword (k-anonymity: 5 hex characters of the SHA-1 leave the process).
 *
 * The common list is zxcvbn-ts's frequency list of leaked passwords, shipped as an npm package, so
 * that check works offline and sends nothing anywhere. It is loaded on first use (about 50k strings),
 * not at start-up. When the breach service can't be reached the password is accepted and
 * `onUnchecked` is told: an outage elsewhere must not block a password change.
 */
import { breachedPassword } from "../src/auth/index.js";

export interface PasswordRuleOptions {
  /** Pwned Passwords range endpoint; undefined skips the online check. */
  breachedPasswordUrl?: string | undefined;
  /** Called when the online check was asked for but could not be done. */
  onUnchecked?: () => void;
}
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_BYTES = 1024;

let common: Promise<ReadonlySet<string>> | undefined;

function commonPasswords(): Promise<ReadonlySet<string>> {
  common ??= import("@zxcvbn-ts/language-common").then(({ dictionary }) => {
    const words = (dictionary as Record<string, readonly string[] | undefined>)["passwords-common"] ?? [];
    return new Set(words.map((word) => word.toLowerCase()));
  });
  return common;
}

/** Why `password` can't be a new password, as a sentence for the user; undefined when it is fine. */
export async function newPasswordProblem(password: string, options: PasswordRuleOptions = {}): Promise<string | undefined> {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `New password must be at least ${MIN_PASSWORD_LENGTH} characters`;
  // Spaces are allowed anywhere (passphrases), but twelve of them and nothing else is no password.
  if (password.trim() === "") return "New password must contain something other than spaces";
  if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) return `New password must be at most ${MAX_PASSWORD_BYTES} bytes`;
  if ((await commonPasswords()).has(password.toLowerCase())) {
    return "New password is on a list of commonly used passwords; choose a less common one";
  }
  if (options.breachedPasswordUrl !== undefined) {
    const breaches = await breachedPassword(password, { url: options.breachedPasswordUrl });
    if (breaches === undefined) options.onUnchecked?.();
    else if (breaches > 0) return "New password appeared in a known data breach; choose one you have not used anywhere else";
  }
  return undefined;
}
