/**
 * The keyring: HMAC-SHA256 over `app.keys`. The first key signs; every key verifies, so keys rotate
 * without logging anyone out. Koa's default, Keygrip, signs with SHA-1; a Keyring has Keygrip's
 * `sign`/`verify`/`index` methods, so it can be assigned to `app.keys` and then
 * `ctx.cookies.set(name, value, { signed: true })` signs with SHA-256 too.
 *
 * @example
 * import { keyring } from "koa-sessionkit";
 * app.keys = keyring(process.env.SESSION_KEYS!.split(","));
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from "node:crypto";
import { SessionConfigError } from "../errors.js";

/** The shortest key accepted, in bytes (UTF-8 for strings): HMAC-SHA256 wants 256 bits of secret. */
export const MIN_KEY_BYTES = 32;

/** One secret key: a string (its UTF-8 bytes count) or a Buffer. */
export type KeyInput = string | Buffer;

const KEY_FIX = 'generate keys with "npx koa-sessionkit keys"';
/** Keys usually come from the environment: an unset variable is the likely cause of a missing one. */
const UNSET_HINT = ": probably an unset environment variable, e.g. SESSION_KEYS is not set where the app runs";


function keyBytes(key: KeyInput): Buffer {
  return typeof key === "string" ? Buffer.from(key, "utf8") : key;
}

/**
 * HMAC-SHA256 signing keys: the first signs, all verify. The session middleware builds one from
 * `app.keys` (or `options.keys`); build one yourself with {@link keyring} to share it or to assign it
 * to `app.keys`, so Koa's own signed cookies use SHA-256 too.
 *
 * @example
 * // Rotation: put the new key first and keep the old one until its cookies have expired.
 * app.keys = keyring([process.env.SESSION_KEY_NEW!, process.env.SESSION_KEY_OLD!]);
 */
export class Keyring {
  /** Raw key material, first (signing) key first. Used to derive other keys (HKDF). */
  readonly keys: readonly Buffer[];
  readonly #hmacKeys: readonly KeyObject[];

  /**
   * @param keys - one or more keys of at least {@link MIN_KEY_BYTES} bytes, signing key first.
   * @param name - what the keys are called in a refusal: where the user set them.
   * @throws SessionConfigError when the list is empty, holds a non-string/non-Buffer or a short key.
   */
  constructor(keys: readonly KeyInput[], name = "app.keys") {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new SessionConfigError(`${name} must be a non-empty array of secret keys (found ${Array.isArray(keys) ? `an empty array${UNSET_HINT}` : typeof keys}); ${KEY_FIX}`);
    }
    const bad = keys.filter((key) => typeof key !== "string" && !Buffer.isBuffer(key));
    if (bad.length > 0) {
      const unset = bad.some((key) => key === undefined || key === null);
      throw new SessionConfigError(`${name} must hold strings or Buffers (found ${bad[0] === null ? "null" : typeof bad[0]}${unset ? UNSET_HINT : ""}); ${KEY_FIX}`);
    }
    const short = keys.filter((key) => keyBytes(key).length < MIN_KEY_BYTES).length;
    if (short > 0) {
      const empty = keys.some((key) => keyBytes(key).length === 0);
      throw new SessionConfigError(
        `${name} has ${short} key${short === 1 ? "" : "s"} shorter than ${MIN_KEY_BYTES} bytes${empty ? ` (an empty key${UNSET_HINT})` : ""}; ${KEY_FIX}`,
      );
    }
    this.keys = Object.freeze(keys.map((key) => Buffer.from(keyBytes(key))));
    // KeyObjects are made once here, never per request.
    this.#hmacKeys = Object.freeze(this.keys.map((key) => createSecretKey(key)));
  }

  /** How many keys the ring holds. */
  get length(): number {
    return this.keys.length;
  }

  /** base64url HMAC-SHA256 of `data` under key `index` (default: the signing key). */
  sign(data: string, index = 0): string {
    const key = this.#hmacKeys[index];
    if (!key) throw new SessionConfigError(`no key at index ${index}`, "ERR_SESSIONKIT_MISUSE");
    return createHmac("sha256", key).update(data).digest("base64url");
  }

  /** Index of the key whose signature matches, or -1. Constant-time per comparison. */
  index(data: string, signature: string): number {
    if (typeof signature !== "string" || signature.length !== 43) return -1;
    const expected = Buffer.from(signature, "base64url");
    // Node's decoder ignores stray characters and the spare bits of the last one; accept only the
    // exact spelling we issue, so a signature has one valid form.
    if (expected.length !== 32 || expected.toString("base64url") !== signature) return -1;
    for (let i = 0; i < this.#hmacKeys.length; i++) {
      const actual = createHmac("sha256", this.#hmacKeys[i] as KeyObject).update(data).digest();
      if (timingSafeEqual(actual, expected)) return i;
    }
    return -1;
  }

  /** True when any key's signature of `data` matches (Keygrip's `verify`). */
  verify(data: string, signature: string): boolean {
    return this.index(data, signature) !== -1;
  }
}

/**
 * Build a Keyring (accepts an existing Keyring unchanged). Refuses a Keygrip instance, whose keys
 * can't be read, with a SessionConfigError that says to pass the array itself. `name` is what the
 * keys are called in a refusal (session() passes "the keys option" for its own `keys`).
 *
 * @example
 * import { keyring } from "koa-sessionkit";
 * app.keys = keyring(process.env.SESSION_KEYS!.split(","));
 */
export function keyring(keys: readonly KeyInput[] | Keyring, name = "app.keys"): Keyring {
  if (keys instanceof Keyring) return keys;
  const value: unknown = keys;
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    // A Keyring from another copy of this package (ESM and CommonJS builds both loaded): same keys.
    const raw = (value as { keys?: unknown }).keys;
    if (Array.isArray(raw) && raw.length > 0 && raw.every((key) => Buffer.isBuffer(key))) return new Keyring(raw as Buffer[], name);
    const methods = value as { sign?: unknown; verify?: unknown; index?: unknown };
    if (typeof methods.sign === "function" && typeof methods.verify === "function" && typeof methods.index === "function") {
      // Keygrip keeps its keys private, so they can't be reused for HMAC-SHA256.
      throw new SessionConfigError(
        `${name} is a Keygrip instance, whose keys koa-sessionkit cannot read; set ${name} to the array of keys itself (or keyring([...]) from "koa-sessionkit"), each at least 32 bytes`,
      );
    }
  }
  return new Keyring(keys as readonly KeyInput[], name);
}
