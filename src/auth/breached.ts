/**
 * Breached-password check through the Pwned Passwords range API (k-anonymity): only the first 5 hex
 * characters of the password's SHA-1 leave the process; the service answers every suffix it knows
 * under that prefix and the match happens here. ASVS 4.0.3 V2.1.7, 5.0 6.2.12.
 *
 * For new passwords only (sign-up, password change), never on login: a login must not depend on a
 * third-party service. When the service can't be reached in time the answer is `undefined` ("could
 * not check"), and the caller decides; the usual choice is to accept the password and log it, so an
 * outage elsewhere never blocks a password change.
 *
 * @example
 * import { breachedPassword } from "koa-sessionkit/auth";
 * const seen = await breachedPassword(newPassword);        // number of breaches, 0, or undefined
 * if (seen) return refuse(400, "This password appeared in a data breach; choose another");
 */
import { createHash } from "node:crypto";
import { MAX_PASSWORD_BYTES, PasswordTooLongError } from "./errors.js";
import { SessionConfigError } from "../errors.js";

/** The public Pwned Passwords range endpoint, the default of {@link BreachedPasswordOptions.url}. */
export const PWNED_PASSWORDS_RANGE_URL = "https://api.pwnedpasswords.com/range/";

/** Options of {@link breachedPassword}. */
export interface BreachedPasswordOptions {
  /** Range endpoint; the 5-character prefix is appended. Default the public Pwned Passwords API. */
  url?: string;
  /** Give up after this many ms and resolve undefined. Default 3000. */
  timeout?: number;
  /** The fetch to use (tests, proxies). Default the global fetch. */
  fetch?: typeof globalThis.fetch;
}

/** A line of the range response: 35 hex characters of suffix, a colon, a count. */
const LINE = /^([0-9A-F]{35}):(\d+)\s*$/;

/**
 * How many times `password` appears in known breaches: a positive count, 0 when it does not appear,
 * or undefined when the service could not be asked or answered nonsense.
 */
export async function breachedPassword(password: string, options: BreachedPasswordOptions = {}): Promise<number | undefined> {
  if (typeof password !== "string") throw new SessionConfigError("breachedPassword(password) needs the password as a string", "ERR_SESSIONKIT_MISUSE");
  const bytes = Buffer.byteLength(password, "utf8");
  if (bytes > MAX_PASSWORD_BYTES) throw new PasswordTooLongError(bytes);
  const { url = PWNED_PASSWORDS_RANGE_URL, timeout = 3000, fetch: fetchImpl = globalThis.fetch } = options;
  const digest = createHash("sha1").update(password, "utf8").digest("hex").toUpperCase();
  const prefix = digest.slice(0, 5);
  const suffix = digest.slice(5);
  let text: string;
  try {
    const response = await fetchImpl(`${url}${prefix}`, {
      // Padding makes every response about the same size, so its length says nothing about the prefix.
      headers: { "Add-Padding": "true", "User-Agent": "koa-sessionkit" },
      signal: AbortSignal.timeout(timeout),
    });
    if (!response.ok) return undefined;
    text = await response.text();
  } catch {
    return undefined; // timeout, DNS, refused connection: "could not check", never a crash
  }
  let parsed = 0;
  for (const line of text.split("\n")) {
    const match = LINE.exec(line.trim().toUpperCase());
    if (!match) continue;
    parsed++;
    if (match[1] === suffix) return Number(match[2]); // padding lines carry a count of 0
  }
  // An answer without a single valid line is not an answer (a captive portal, an error page).
  return parsed > 0 ? 0 : undefined;
}
