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
import { isPlainRecord, normalizeStored, safeParse } from "./codec.js";
import { readCookie } from "./cookies.js";
import type { ResolvedOptions } from "./options.js";

const CUSTOM_ID = /^[\x21-\x7e]{1,256}$/;

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

/** A new id from the user's genid, refused when it could not be an unguessable id. */
export function customId(ctx: Context, options: ResolvedOptions): string {
  const id = (options.genid as (ctx: Context) => string)(ctx);
  if (typeof id !== "string" || !CUSTOM_ID.test(id) || id.length < 22) {
    throw new TypeError(
      "koa-sessionkit: genid must return an unguessable string of 22 to 256 printable characters (at least 128 random bits); remove the genid option to use 256-bit ids",
    );
  }
  return id;
}
