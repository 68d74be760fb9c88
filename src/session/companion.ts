/**
 * Sealed companion cookies: `<key>.<suffix>` beside the session cookie, for a little state that must
 * not create a store entry. Their one user is the CSRF secret of a visitor who has no stored session
 * yet (auth/csrf.ts): a login page used to put it into a new session, so every cookieless request
 * for the page wrote a store entry, and a script fetching the page in a loop filled the store.
 *
 * The value is sealed with AES-256-GCM under keys derived from the session keys (crypto/seal.ts),
 * bound to the cookie's name and carrying its own expiry, so a client can neither read, forge nor
 * keep it alive. The cookie takes the session cookie's attributes (path, domain, SameSite, Secure,
 * HttpOnly), and has no Expires: it ends with the browser session or at the sealed expiry.
 */
import type { Context } from "koa";
import type { Keyring } from "../crypto/keyring.js";
import { Sealer } from "../crypto/seal.js";
import { clearNamedCookie, requestCookie, writeNamedCookie } from "./cookies.js";
import { contextSession } from "./middleware.js";

const sealers = new WeakMap<Keyring, Sealer>();

function sealerFor(keyring: Keyring): Sealer {
  let sealer = sealers.get(keyring);
  if (!sealer) {
    sealer = new Sealer(keyring);
    sealers.set(keyring, sealer);
  }
  return sealer;
}

/**
 * True when this request's middleware can seal companions: it has keys (store mode with signed, or
 * cookie mode) and its session travels in a cookie (not `externalKey`'s header, whose clients may
 * keep no cookies at all).
 */
export function canSealCompanion(ctx: Context): boolean {
  const { options } = contextSession(ctx);
  return options.keyring !== undefined && !options.externalKey;
}

/** A companion as opened: its value and when its sealed lifetime ends (ms since the epoch). */
export interface Companion {
  value: string;
  expiresAt: number;
}

/** The companion, or undefined when it is absent, forged, for another name or expired. */
export function readCompanion(ctx: Context, suffix: string): Companion | undefined {
  const { options } = contextSession(ctx);
  if (!options.keyring) return undefined;
  const name = `${options.key}.${suffix}`;
  const token = requestCookie(ctx, name);
  if (!token) return undefined;
  const opened = sealerFor(options.keyring).open(token, name);
  if (!opened || opened.expiresAt === undefined || opened.expiresAt <= Date.now()) return undefined;
  return { value: opened.payload, expiresAt: opened.expiresAt };
}

/** Send the companion with `value`, valid for `ttlMs`. Needs keys (see canSealCompanion). */
export function writeCompanion(ctx: Context, suffix: string, value: string, ttlMs: number): void {
  const { options } = contextSession(ctx);
  if (!options.keyring) return;
  const name = `${options.key}.${suffix}`;
  const now = Date.now();
  writeNamedCookie(ctx, options, name, sealerFor(options.keyring).seal(value, name, now, now + ttlMs), { expires: undefined });
}

/** Expire the companion in the browser, when the request carries one. */
export function clearCompanion(ctx: Context, suffix: string): void {
  const { options } = contextSession(ctx);
  const name = `${options.key}.${suffix}`;
  if (requestCookie(ctx, name) !== undefined) clearNamedCookie(ctx, options, name);
}
