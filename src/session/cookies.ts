/**
 * Reading and writing the session cookie (and its `.sig` companion) through Koa's `ctx.cookies`,
 * signed with the keyring's HMAC-SHA256 rather than Keygrip's SHA-1. The wire format is Keygrip's:
 * `<name>.sig` holds base64url(HMAC(key, "<name>=<value>")), so proxies and tooling see nothing new.
 */
import type { Context } from "koa";
import type { VerifiedCache } from "../crypto/verified-cache.js";
import type { ResolvedOptions } from "./options.js";

/** Browsers drop a cookie whose name, value and attributes pass 4096 bytes. */
export const COOKIE_LIMIT_BYTES = 4096;
const EPOCH = new Date(0);

export interface CookieRead {
  value: string;
  /** Index of the key that verified the signature; 0 when unsigned. */
  keyIndex: number;
}

/**
 * The cookie's value if present and (when signed) correctly signed; undefined otherwise. Never throws.
 * A bad signature is indistinguishable from no cookie, which is what a tampering client deserves.
 */
export function readCookie(ctx: Context, options: ResolvedOptions, cache?: VerifiedCache<number>): CookieRead | undefined {
  let value: string | undefined;
  try {
    value = ctx.cookies.get(options.key, { signed: false });
  } catch {
    return undefined; // malformed Cookie header; the cookies module is strict about some encodings
  }
  if (!value) return undefined;
  if (!options.signed || !options.keyring) return { value, keyIndex: 0 };
  let signature: string | undefined;
  try {
    signature = ctx.cookies.get(`${options.key}.sig`, { signed: false });
  } catch {
    return undefined;
  }
  if (!signature) return undefined;
  const cacheKey = `${value}.${signature}`;
  const known = cache?.get(cacheKey);
  if (known !== undefined) return { value, keyIndex: known };
  const keyIndex = options.keyring.index(`${options.key}=${value}`, signature);
  if (keyIndex === -1) return undefined;
  cache?.set(cacheKey, keyIndex);
  return { value, keyIndex };
}

export interface CookieLifetime {
  /** Absolute expiry; undefined for a browser-session cookie. */
  expires: Date | undefined;
}

function attributes(ctx: Context, options: ResolvedOptions, lifetime: CookieLifetime) {
  return {
    path: options.path,
    domain: options.domain,
    httpOnly: options.httpOnly,
    sameSite: options.sameSite,
    // Default: Secure exactly when the request is HTTPS (ctx.secure honours app.proxy).
    secure: options.secure ?? ctx.secure,
    overwrite: options.overwrite,
    signed: false,
    expires: lifetime.expires,
  };
}

function setRaw(ctx: Context, name: string, value: string, attrs: ReturnType<typeof attributes>): void {
  const cookies = ctx.cookies as unknown as { secure?: boolean };
  // The cookies module throws "Cannot send secure cookie over unencrypted connection" when the app
  // asks for Secure on a request it believes is HTTP (typically TLS ended at a proxy without
  // app.proxy). The browser saw HTTPS, and the app explicitly asked for Secure: honour it, don't 500.
  const forced = attrs.secure && !cookies.secure;
  if (forced) cookies.secure = true;
  try {
    ctx.cookies.set(name, value, attrs);
  } finally {
    if (forced) cookies.secure = false;
  }
}

/** Set the session cookie (and its signature). */
export function writeCookie(ctx: Context, options: ResolvedOptions, value: string, lifetime: CookieLifetime): void {
  const attrs = attributes(ctx, options, lifetime);
  setRaw(ctx, options.key, value, attrs);
  if (options.signed && options.keyring) {
    setRaw(ctx, `${options.key}.sig`, options.keyring.sign(`${options.key}=${value}`), attrs);
  }
}

/** Expire the session cookie and its signature in the browser. */
export function clearCookie(ctx: Context, options: ResolvedOptions): void {
  const attrs = { ...attributes(ctx, options, { expires: EPOCH }), maxAge: undefined };
  setRaw(ctx, options.key, "", attrs);
  if (options.signed && options.keyring) setRaw(ctx, `${options.key}.sig`, "", attrs);
}

/** Bytes of the Set-Cookie line a value would need, to refuse cookies a browser would drop. */
export function cookieBytes(ctx: Context, options: ResolvedOptions, value: string, lifetime: CookieLifetime): number {
  const attrs = attributes(ctx, options, lifetime);
  let line = `${options.key}=${value}; path=${attrs.path}`;
  if (attrs.expires) line += `; expires=${attrs.expires.toUTCString()}`;
  if (attrs.domain) line += `; domain=${attrs.domain}`;
  if (attrs.sameSite) line += `; samesite=${attrs.sameSite === true ? "strict" : attrs.sameSite}`;
  if (attrs.secure) line += "; secure";
  if (attrs.httpOnly) line += "; httponly";
  return Buffer.byteLength(line);
}
