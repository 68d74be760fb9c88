/**
 * Password hashing: argon2id (m=19456 KiB, t=2, p=1, OWASP's recommendation) through @node-rs/argon2,
 * with node:crypto scrypt (N=2^17, r=8, p=1) as the fallback when the native module cannot load.
 * Verification also accepts bcrypt hashes (through bcryptjs) so users migrated from another system
 * can log in; `needsRehash` then says to replace their hash with argon2id.
 *
 * - Every hash runs off the event loop (async APIs) and at most 4 at once, so a burst of logins
 *   queues instead of starving the thread pool the rest of the app shares.
 * - Passwords over 1024 bytes throw `PasswordTooLongError` (status 400) before any hashing.
 * - bcrypt only reads 72 bytes; a longer password never matches a bcrypt hash, so a 72-byte prefix
 *   can't log in as someone with a longer password. Hashes made here are never bcrypt.
 * - `verifyDummy` costs what a real verification costs: call it when the account does not exist.
 *
 * @example
 * import { hashPassword, verifyPassword, verifyDummy, needsRehash } from "koa-sessionkit/auth";
 * const user = await users.findByEmail(email);
 * const ok = user ? await verifyPassword(user.passwordHash, password) : await verifyDummy(password);
 * if (ok && user && needsRehash(user.passwordHash)) await users.setHash(user.id, await hashPassword(password));
 */
import type * as Argon2Module from "@node-rs/argon2";
import { MAX_PASSWORD_BYTES, PasswordTooLongError } from "./errors.js";
import { Semaphore } from "./semaphore.js";
import { parseScrypt, SCRYPT_DEFAULTS, scryptHash, scryptVerify } from "./scrypt.js";
import { SessionConfigError } from "../errors.js";

type Argon2 = Pick<typeof Argon2Module, "hash" | "verify">;
interface Bcrypt {
  compare(password: string, hash: string): Promise<boolean>;
}

/** The argon2id policy; hashes with less memory or fewer passes need a rehash. */
export const ARGON2_PARAMS: Readonly<{
  /** Memory per hash in KiB (19 MiB, OWASP's argon2id minimum). */
  memoryCost: number;
  /** Passes over the memory. */
  timeCost: number;
  /** Lanes (threads) per hash. */
  parallelism: number;
}> = Object.freeze({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
/** bcrypt ignores bytes past 72; longer passwords never verify against a bcrypt hash. */
export const BCRYPT_MAX_BYTES = 72;
const MAX_HASH_LENGTH = 512;
/** Concurrent hashes/verifications; libuv's pool has 4 threads by default. */
const hashing = new Semaphore(4);

// Fixed hashes of random, discarded passwords: verifyDummy checks against them so an unknown
// account costs the same time as a wrong password.
const DUMMY_ARGON2 = "$argon2id$v=19$m=19456,t=2,p=1$dKpADFDnQ/GGfldBIXm8XQ$5e/WrAhERagAyovyx6q2IwvTS0wYjzFXadVmTETW6kQ";
const DUMMY_SCRYPT = "$scrypt$ln=17,r=8,p=1$LY2diGqn5uDeD/gB1saq3Q$85vkbReluHK54eoylkQpTpQid9o8CsP5YHccCF9ibxQ";

type Loader<T> = () => Promise<T>;
const defaultArgon2Loader: Loader<Argon2> = async () => {
  const mod = (await import("@node-rs/argon2")) as typeof Argon2Module & { default?: typeof Argon2Module };
  const api = typeof mod.hash === "function" ? mod : mod.default;
  if (!api || typeof api.hash !== "function") {
    throw new SessionConfigError("the installed @node-rs/argon2 does not export hash(); install @node-rs/argon2 2.x", "ERR_SESSIONKIT_MISSING_PEER");
  }
  return api;
};
let argon2Loader: Loader<Argon2> = defaultArgon2Loader;
let argon2: Promise<Argon2 | null> | undefined;
/** undefined until the first load attempt settles. */
let argon2Available: boolean | undefined;
let bcrypt: Promise<Bcrypt | null> | undefined;

/** Lazily load @node-rs/argon2 once; null (with one warning) when it cannot load. */
function loadArgon2(): Promise<Argon2 | null> {
  argon2 ??= argon2Loader().then(
    (api) => {
      argon2Available = true;
      return api;
    },
    (err: unknown) => {
      argon2Available = false;
      process.emitWarning(
        `koa-sessionkit: @node-rs/argon2 could not be loaded (${err instanceof Error ? err.message.split("\n")[0] : String(err)}), so passwords are hashed with the scrypt fallback (N=2^17, r=8, p=1: about 128 MiB of memory and 0.6 s of CPU per hash, several times argon2id's cost). Install @node-rs/argon2 for argon2id.`,
        { code: "KOA_SESSIONKIT_SCRYPT_FALLBACK" },
      );
      return null;
    },
  );
  return argon2;
}

function loadBcrypt(): Promise<Bcrypt | null> {
  bcrypt ??= import("bcryptjs").then(
    (mod) => ((mod as { default?: Bcrypt }).default ?? (mod as unknown as Bcrypt)),
    () => {
      process.emitWarning("koa-sessionkit: a bcrypt hash was given to verifyPassword but bcryptjs is not installed, so it never matches; install bcryptjs to verify migrated bcrypt hashes.", {
        code: "KOA_SESSIONKIT_NO_BCRYPT",
      });
      return null;
    },
  );
  return bcrypt;
}

/** Tests only (not exported from the package): swap the argon2 loader and forget the cached module. */
export function setArgon2LoaderForTests(loader?: Loader<Argon2>): void {
  argon2Loader = loader ?? defaultArgon2Loader;
  argon2 = undefined;
  argon2Available = undefined;
}

function checkLength(password: string): void {
  const bytes = Buffer.byteLength(password, "utf8");
  if (bytes > MAX_PASSWORD_BYTES) throw new PasswordTooLongError(bytes);
}

/**
 * Hash a password for storage: an argon2id PHC string (or `$scrypt$…` when argon2 cannot load).
 *
 * @example
 * await users.create({ email, passwordHash: await hashPassword(password) });
 */
export async function hashPassword(password: string): Promise<string> {
  if (typeof password !== "string") throw new SessionConfigError("hashPassword(password) needs the password as a string", "ERR_SESSIONKIT_MISUSE");
  checkLength(password);
  const api = await loadArgon2();
  if (!api) return hashing.run(() => scryptHash(password, SCRYPT_DEFAULTS));
  return hashing.run(() => api.hash(password, { ...ARGON2_PARAMS, algorithm: 2 /* Argon2id */ }));
}

const BCRYPT_PATTERN = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/**
 * Check a password against a stored argon2, scrypt or bcrypt hash. A malformed or unknown hash (or a
 * non-string password, after the same work as a wrong one) resolves false; only a password over 1024
 * bytes throws (PasswordTooLongError).
 *
 * @example
 * if (await verifyPassword(user.passwordHash, password)) {
 *   if (needsRehash(user.passwordHash)) await users.setHash(user.id, await hashPassword(password));
 *   await login(ctx, { id: user.id });
 * }
 */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (typeof password !== "string") {
    // Still spend a verification: a body without a password must not answer faster for a registered
    // email (found: verifyPassword) than for an unknown one (verifyDummy), or timing lists accounts.
    await verifyPassword(hash, "");
    return false;
  }
  checkLength(password);
  // Settle argon2's availability first, so needsRehash() after a login knows whether scrypt is a fallback.
  const api = await loadArgon2();
  if (typeof hash !== "string" || hash.length > MAX_HASH_LENGTH) return false;
  if (hash.startsWith("$argon2")) {
    if (!api) return false;
    // @node-rs/argon2 compares in constant time and rejects malformed hashes by throwing.
    return hashing.run(() => api.verify(hash, password)).catch(() => false);
  }
  if (hash.startsWith("$scrypt$")) return hashing.run(() => scryptVerify(hash, password));
  if (BCRYPT_PATTERN.test(hash)) {
    if (Buffer.byteLength(password, "utf8") > BCRYPT_MAX_BYTES) return false;
    const lib = await loadBcrypt();
    if (!lib) return false;
    // $2y$ (PHP) is the same algorithm as $2b$.
    const normalized = hash.startsWith("$2y$") ? `$2b$${hash.slice(4)}` : hash;
    return hashing.run(() => lib.compare(password, normalized)).catch(() => false);
  }
  return false;
}

/**
 * Spend the time of a real verification and resolve false: call it when no account matches, so the
 * response time does not tell whether an email is registered. Throws for >1024 bytes, like verifyPassword.
 */
export async function verifyDummy(password: string): Promise<false> {
  const candidate = typeof password === "string" ? password : "";
  checkLength(candidate);
  const api = await loadArgon2();
  await verifyPassword(api ? DUMMY_ARGON2 : DUMMY_SCRYPT, candidate);
  return false;
}

const ARGON2_PATTERN = /^\$(argon2(?:id|i|d))\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$/;

/**
 * True when a stored hash should be replaced (after a successful login) by `hashPassword(password)`:
 * bcrypt always, scrypt when argon2 is available, argon2 that is not argon2id v19 or is weaker than
 * m=19456, t=2; also true for anything unrecognized.
 */
export function needsRehash(hash: string): boolean {
  if (typeof hash !== "string") return true;
  const argon = ARGON2_PATTERN.exec(hash);
  if (argon) {
    const [, variant, version, memory, time] = argon as unknown as [string, string, string, string, string];
    return variant !== "argon2id" || Number(version) !== 19 || Number(memory) < ARGON2_PARAMS.memoryCost || Number(time) < ARGON2_PARAMS.timeCost;
  }
  const scrypt = parseScrypt(hash);
  if (scrypt) {
    const weaker = scrypt.ln < SCRYPT_DEFAULTS.ln || scrypt.r < SCRYPT_DEFAULTS.r;
    // Unknown availability counts as available: the next verifyPassword settles it.
    return weaker || argon2Available !== false;
  }
  return true;
}
