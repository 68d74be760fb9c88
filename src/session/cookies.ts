/**
 * Reading and writing the session cookie (and its `.sig` companion) through Koa's `ctx.cookies`,
 * signed with the keyring's HMAC-SHA256 rather than Keygrip's SHA-1. The wire format is Keygrip's:
 * `<name>.sig` holds base64url(HMAC(key, "<name>=<value>")), so proxies and tooling see nothing new.
 */
import type { Context } from "koa";
import type { VerifiedCache } from "../crypto/verified-cache.js";
import { SessionTooLargeError } from "../errors.js";
import type { ResolvedOptions } from "./options.js";

/** Browsers drop a cookie whose name, value and attributes pass 4096 bytes. */
export const COOKIE_LIMIT_BYTES = 4096;
const EPOCH = new Date(0);

export interface CookieRead {
  value: string;
  /** Index of the key that verified the signature; 0 when unsigned. */
  keyIndex: number;
  /** The verified signature, reusable when the same value is sent back under the same key. */
  signature?: string;
}

/**
 * The cookie's value if present and (when signed) correctly signed; undefined otherwise. Never throws.
 * A bad signature is indistinguishable from no cookie, which is what a tampering client deserves.
 */
export function readCookie(ctx: Context, options: ResolvedOptions, cache?: VerifiedCache<number>): CookieRead | undefined {
  const value = requestCookie(ctx, options.key);
  if (!value) return undefined;
  if (!options.signed || !options.keyring) return { value, keyIndex: 0 };
  const signature = requestCookie(ctx, `${options.key}.sig`);
  if (!signature) return undefined;
  // The value's length makes the pair unambiguous: with "value.signature" alone, a custom id that
  // contains a dot ("tenantA.x…") splits two ways, and a forged pair could hit a cached verdict.
  const cacheKey = `${value.length}:${value}${signature}`;
  const known = cache?.get(cacheKey);
  if (known !== undefined) return { value, keyIndex: known, signature };
  const keyIndex = options.keyring.index(`${options.key}=${value}`, signature);
  if (keyIndex === -1) return undefined;
  cache?.offer(cacheKey, keyIndex);
  return { value, keyIndex, signature };
}

/** Per cookie name, the pattern the cookies module (0.9) matches it with. */
const patterns = new Map<string, RegExp>();

/**
 * A cookie's raw value from the request's Cookie header, exactly as Koa's `ctx.cookies.get(name,
 * { signed: false })` finds it (the cookies module's pattern, surrounding quotes dropped), but
 * without constructing `ctx.cookies` (a Cookies and a Keygrip object per request) on a request whose
 * only cookie work is ours. Never throws.
 */
export function requestCookie(ctx: Context, name: string): string | undefined {
  const header = ctx.req.headers.cookie;
  if (!header) return undefined;
  let pattern = patterns.get(name);
  if (!pattern) {
    pattern = new RegExp(`(?:^|;) *${name.replace(/[\^$\\.*+?()[\]{}|]/g, "\\$&")}=([^;]*)`);
    patterns.set(name, pattern);
  }
  const match = pattern.exec(header);
  if (!match) return undefined;
  const value = match[1] as string;
  return value[0] === '"' ? value.slice(1, -1) : value;
}

export interface CookieLifetime {
  /** Absolute expiry; undefined for a browser-session cookie. */
  expires: Date | undefined;
}

/**
 * The attribute text around `expires`, per (frozen) options: `; path=…` before it; domain, priority,
 * samesite, secure, httponly and partitioned after it, with and without Secure. Formatted once per
 * options object, not per Set-Cookie line (and the signature cookie's name with it).
 */
interface AttributeText {
  /** `<key>.sig`, the signature cookie's name. */
  sigName: string;
  head: string;
  tail: string;
  secureTail: string;
}

const attributeTexts = new WeakMap<ResolvedOptions, AttributeText>();

function attributeText(options: ResolvedOptions): AttributeText {
  let text = attributeTexts.get(options);
  if (!text) {
    let tail = "";
    if (options.domain) tail += `; domain=${options.domain}`;
    if (options.priority) tail += `; priority=${options.priority}`;
    if (options.sameSite) tail += `; samesite=${options.sameSite === true ? "strict" : options.sameSite}`;
    const end = (options.httpOnly ? "; httponly" : "") + (options.partitioned ? "; partitioned" : "");
    text = { sigName: `${options.key}.sig`, head: `; path=${options.path}`, tail: tail + end, secureTail: `${tail}; secure${end}` };
    attributeTexts.set(options, text);
  }
  return text;
}

/** The last expiry formatted: every request within one second sends the same text. */
let lastExpiresSecond = Number.NaN;
let lastExpiresText = "";

function expiresText(expires: Date | undefined): string {
  if (!expires) return "";
  const second = Math.floor(expires.getTime() / 1000);
  if (second !== lastExpiresSecond) {
    lastExpiresText = `; expires=${expires.toUTCString()}`;
    lastExpiresSecond = second;
  }
  return lastExpiresText;
}

/** What every line of one Set-Cookie write shares: all the attributes, formatted. */
function attributes(ctx: Context, options: ResolvedOptions, lifetime: CookieLifetime): string {
  const text = attributeText(options);
  // Default: Secure exactly when the request is HTTPS (ctx.secure honours app.proxy). An explicit
  // secure: true is honoured even when the request looks like HTTP (TLS ended at a proxy without
  // app.proxy): the cookies module would throw there, which is why we format the header ourselves.
  const secure = options.secure ?? ctx.secure;
  return text.head + expiresText(lifetime.expires) + (secure ? text.secureTail : text.tail);
}

/** One Set-Cookie line, in the attribute order of the `cookies` module Koa uses. */
function serialize(name: string, value: string, attributes: string): string {
  return `${name}=${value}${attributes}`;
}

/**
 * Append our Set-Cookie lines in one header write. With `overwrite`, earlier lines for the same
 * names (set by this or other middleware in this request) are dropped, as the cookies module does.
 * Names and values are known-safe here: the name was validated at start-up and values are base64url.
 */
function setCookies(ctx: Context, options: ResolvedOptions, names: string[], lines: string[]): void {
  const existing = ctx.response.get("Set-Cookie") as unknown as string | string[] | undefined;
  if (existing === undefined || existing === "") {
    ctx.set("Set-Cookie", lines); // the usual case: ours are the only cookies of this response
    return;
  }
  let headers: string[] = Array.isArray(existing) ? [...existing] : [String(existing)];
  if (options.overwrite) {
    const prefixes = names.map((name) => `${name}=`);
    headers = headers.filter((header) => !prefixes.some((prefix) => header.startsWith(prefix)));
  }
  headers.push(...lines);
  ctx.set("Set-Cookie", headers);
}

/** Set the session cookie (and its signature). */
export function writeCookie(ctx: Context, options: ResolvedOptions, value: string, lifetime: CookieLifetime, knownSignature?: string): void {
  const attrs = attributes(ctx, options, lifetime);
  const line = serialize(options.key, value, attrs);
  if (!options.signed || !options.keyring) return setCookies(ctx, options, [options.key], [line]);
  // Re-sending the id the client sent, verified under the first key: its signature is unchanged.
  const signature = knownSignature ?? options.keyring.sign(`${options.key}=${value}`);
  const sigName = attributeText(options).sigName;
  setCookies(ctx, options, [options.key, sigName], [line, serialize(sigName, signature, attrs)]);
}

/** Expire the session cookie and its signature in the browser. */
export function clearCookie(ctx: Context, options: ResolvedOptions): void {
  const attrs = attributes(ctx, options, { expires: EPOCH });
  const sigName = attributeText(options).sigName;
  if (options.signed && options.keyring) setCookies(ctx, options, [options.key, sigName], [serialize(options.key, "", attrs), serialize(sigName, "", attrs)]);
  else setCookies(ctx, options, [options.key], [serialize(options.key, "", attrs)]);
}

/** Expire a `<key>.sig` cookie left by koa-session, for a configuration that writes none of its own. */
export function clearCompanionSignature(ctx: Context, options: ResolvedOptions): void {
  clearNamedCookie(ctx, options, attributeText(options).sigName);
}

/** Set (or, with an empty value and EPOCH, expire) one more cookie with the session cookie's attributes. */
export function writeNamedCookie(ctx: Context, options: ResolvedOptions, name: string, value: string, lifetime: CookieLifetime): void {
  setCookies(ctx, options, [name], [serialize(name, value, attributes(ctx, options, lifetime))]);
}

/** Expire one more cookie set with the session cookie's attributes. */
export function clearNamedCookie(ctx: Context, options: ResolvedOptions, name: string): void {
  writeNamedCookie(ctx, options, name, "", { expires: EPOCH });
}

/** Bytes of the Set-Cookie line a value would need, to refuse cookies a browser would drop. */
export function cookieBytes(ctx: Context, options: ResolvedOptions, value: string, lifetime: CookieLifetime): number {
  return Buffer.byteLength(serialize(options.key, value, attributes(ctx, options, lifetime)));
}

/** Set a cookie-mode token, refusing one a browser would silently drop (over 4096 bytes). */
export function writeSealedCookie(ctx: Context, options: ResolvedOptions, token: string, lifetime: CookieLifetime): void {
  const size = cookieBytes(ctx, options, token, lifetime);
  if (size > COOKIE_LIMIT_BYTES) throw new SessionTooLargeError(size, COOKIE_LIMIT_BYTES);
  writeCookie(ctx, options, token, lifetime);
}
