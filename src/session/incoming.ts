/**
 * Reading what the client sent, before anything touches a store: the session id from the cookie
 * (format-checked and signature-verified) or from `externalKey`, and the sealed cookie of cookie
 * mode. Nothing here throws on client input; bad input is simply "no session".
 */
import type { Context } from "koa";
import { ID_PATTERN } from "../crypto/ids.js";
import type { Opened, Sealer } from "../crypto/seal.js";
import type { VerifiedCache } from "../crypto/verified-cache.js";
import type { StoredSession } from "../stores/contract.js";
import { isPlainRecord, normalizeStored, safeParse } from "../stores/json.js";
import { readCookie } from "./cookies.js";
import type { ResolvedOptions } from "./options.js";
import { SessionConfigError } from "../errors.js";

/**
 * What a custom genid may return: 1 to 256 characters a cookie value may hold unquoted (RFC 6265's
 * cookie-octet: printable ASCII but `"` `,` `;` `\`), since the id is written into Set-Cookie as is.
 */
const CUSTOM_ID = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,256}$/;
/** Below 22 characters an id can't carry 128 random bits (22 base64 characters hold 132). */
const WEAK_ID_CHARS = 22;
/** genid functions already warned about, so each warns once per process. */
const warnedGenids = new WeakSet<object>();

export function idLooksValid(id: string, options: ResolvedOptions): boolean {
  return options.genid ? CUSTOM_ID.test(id) : ID_PATTERN.test(id);
}

export interface IncomingId {
  id: string | undefined;
  /** > 0 when an older key verified the signature: re-sign with the first key. */
  keyIndex: number;
  /** The client sent a session cookie we won't use: clear it so it stops costing a verification. */
  stale: boolean;
  /** The signature the client sent, when the first key made it. */
  signature?: string | undefined;
}

export function readSessionId(ctx: Context, options: ResolvedOptions, cache?: VerifiedCache<number>): IncomingId {
  if (options.externalKey) {
    const value = options.externalKey.get(ctx);
    const id = typeof value === "string" && idLooksValid(value, options) ? value : undefined;
    return { id, keyIndex: 0, stale: false };
  }
  const cookie = readCookie(ctx, options, cache);
  if (!cookie) return { id: undefined, keyIndex: 0, stale: rawCookie(ctx, options.key) !== undefined };
  if (!idLooksValid(cookie.value, options)) return { id: undefined, keyIndex: 0, stale: true };
  return { id: cookie.value, keyIndex: cookie.keyIndex, stale: false, signature: cookie.keyIndex === 0 ? cookie.signature : undefined };
}

export function rawCookie(ctx: Context, name: string): string | undefined {
  try {
    return ctx.cookies.get(name, { signed: false }) || undefined;
  } catch {
    return undefined; // a malformed Cookie header
  }
}

export type SealedCookie =
  | { kind: "none" }
  | { kind: "unopened"; token: string }
  | { kind: "expired" }
  | { kind: "opened"; stored: StoredSession | null; keyIndex: number };

/** Open cookie mode's sealed token: its lifetime is enforced here, whatever the browser kept. */
export function openSealedCookie(ctx: Context, options: ResolvedOptions, sealer: Sealer, cache?: VerifiedCache<Opened>): SealedCookie {
  const token = rawCookie(ctx, options.key);
  if (!token) return { kind: "none" };
  // A returning browser sends the same sealed text each time: decrypt it once. The expiry inside
  // is still checked on every request below.
  let opened = cache?.get(token) ?? null;
  if (!opened) {
    opened = sealer.open(token, options.key);
    if (opened) cache?.set(token, opened);
  }
  if (!opened) return { kind: "unopened", token };
  if (opened.expiresAt !== undefined && opened.expiresAt <= Date.now()) return { kind: "expired" };
  let stored: StoredSession | null = null;
  try {
    const decoded = options.decode ? options.decode(opened.payload) : safeParse(opened.payload);
    stored = isPlainRecord(decoded) ? normalizeStored(decoded) : null;
  } catch {
    stored = null;
  }
  return { kind: "opened", stored, keyIndex: opened.keyIndex };
}

/** Why a loaded session can't be used, as the koa-session event name; null when it is fine. */
export function rejectReason(ctx: Context, options: ResolvedOptions, stored: StoredSession | null): "missed" | "expired" | "invalid" | null {
  if (!stored) return "missed";
  const now = Date.now();
  const absolute = stored._sk?.absoluteExpiresAt;
  if ((typeof stored._expire === "number" && stored._expire < now) || (typeof absolute === "number" && absolute <= now)) {
    return "expired";
  }
  if (options.valid && !options.valid(ctx, stored)) return "invalid";
  return null;
}

/**
 * A new id from the user's genid. The app chose its generator, so any non-empty cookie-safe string is
 * used (koa-session used whatever genid returned); a short one is a weak id, which is warned about
 * once. Anything that can't be a cookie value is a programmer error.
 */
export function customId(ctx: Context, options: ResolvedOptions): string {
  const genid = options.genid;
  const id: unknown = genid?.(ctx);
  if (typeof id !== "string" || !CUSTOM_ID.test(id)) {
    throw new SessionConfigError(
      `genid must return a string of 1 to 256 cookie-safe characters (printable ASCII without spaces, '"', ',', ';' or '\\'), got ${typeof id === "string" ? `${id.length} characters` : typeof id}; fix genid, or remove it to use 256-bit ids`,
      "ERR_SESSIONKIT_GENID",
    );
  }
  if (id.length < WEAK_ID_CHARS && genid && !warnedGenids.has(genid)) {
    warnedGenids.add(genid);
    process.emitWarning(
      `koa-sessionkit: genid returned a ${id.length}-character session id; ids shorter than ${WEAK_ID_CHARS} characters can't hold 128 random bits and may be guessed. Return at least 22 characters from a CSPRNG (crypto.randomBytes(16).toString("base64url")), or remove genid to use 256-bit ids.`,
      { code: "SESSIONKIT_WEAK_GENID" },
    );
  }
  return id;
}
