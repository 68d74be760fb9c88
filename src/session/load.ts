/**
 * Phase 1 of a request, the read: what the request brings, decided before the handler reads
 * `ctx.session`. Reading the cookie (format check, HMAC-SHA256 verify), fetching or opening the
 * session and rejecting stale or invalid data all happen here.
 *
 *   store mode:  verified id cookie → store key (cached sha256) → one store read
 *   cookie mode: sealed cookie → opened (cached) → expiry checked on every request
 *   both:        when nothing of ours is accepted, the koa-session legacy reader gets one try
 *
 * A load never throws on client input: anything unusable is "no session", and `stale` tells the
 * controller to clear the cookie the client keeps sending.
 */
import type { Context } from "koa";
import { debuglog } from "node:util";
import { ID_PATTERN, logTag, storeKeyFor } from "../crypto/ids.js";
import { auditEvent } from "../events.js";
import type { Opened, Sealer } from "../crypto/seal.js";
import type { VerifiedCache } from "../crypto/verified-cache.js";
import type { MaxAge, SessionMeta, SessionStore, StoredSession } from "../stores/contract.js";
import { flatTemplate, isPlainRecord, normalizeStored, parseStored } from "../stores/json.js";
import { readCookie, requestCookie } from "./cookies.js";
import { ONE_DAY_MS, type ResolvedOptions } from "./options.js";
import type { LegacyReader, SharedState } from "./runtime.js";
import { CORRUPT_ENTRY, isThenable, storeCall } from "../stores/call.js";
import type { SessionEvent } from "./types.js";

const debug = debuglog("koa-sessionkit:session");

/** Which id a store-mode session lives under, and the signature the client sent for it. */
export interface Identity {
  id: string;
  storeKey: string;
  /** The id's verified signature under the first key, re-sent as is instead of signing again. */
  signature?: string | undefined;
}

export interface Loaded {
  /** The accepted session; undefined when the request carries none we can use. */
  stored?: StoredSession | undefined;
  /** Store mode: the session's id and store key. */
  identity?: Identity | undefined;
  /** An older key verified the cookie: re-sign (store mode) or re-seal (cookie mode) under the first. */
  reissue: boolean;
  /** The client sent a session cookie that is not used: clear it so it stops costing a verification. */
  stale: boolean;
  /** Accepted once from koa-session: save it in koa-sessionkit's format, then forget the legacy entry. */
  legacy?: { storeKey: string | undefined } | undefined;
  /** Cookie mode: re-seal at commit although nothing changed (see resealBrowserSession). */
  reseal?: boolean | undefined;
}

const NOTHING: Loaded = Object.freeze({ reissue: false, stale: false });

/** What the controller takes over from a load that found a session, and what its commit then owes. */
export interface Adoption {
  /** The lifetime the session was stored with; undefined keeps the middleware's. */
  maxAge: MaxAge | undefined;
  meta: SessionMeta | undefined;
  expire: number | undefined;
  /** Save at commit although nothing changed. */
  force: boolean;
  /** Re-sign the id under the first key at commit (store mode). */
  reissue: boolean;
  /** Remember the loaded text, so the commit can tell a read from a change. */
  remember: boolean;
}

/** The controller's side of a load that found `stored` (context-session.ts applies it). */
export function adoption(stored: StoredSession, loaded: Loaded, transport: { kind: "store" | "cookie"; reissueBySaving: boolean }): Adoption {
  const maxAge: MaxAge | undefined = typeof stored._maxAge === "number" ? stored._maxAge : stored._session === true ? "session" : undefined;
  const meta = isPlainRecord(stored._sk) ? { ...(stored._sk as SessionMeta) } : undefined;
  const expire = typeof stored._expire === "number" ? stored._expire : undefined;
  // A koa-session session accepted once is saved in our format (a new id, a hashed store key and a
  // SHA-256 signature) in store mode. In cookie mode it is remembered as loaded, so the commit can
  // tell a read from a change when the sealed cookie turns out too large for a browser (the
  // transport keeps the koa-session cookie then).
  if (loaded.legacy && transport.kind === "store") return { maxAge, meta, expire, force: true, reissue: false, remember: false };
  // Verified under an older key: a sealed cookie has no id to re-sign, so re-sealing under key[0] is
  // a save (which restarts maxAge as a renew would); an id cookie is only re-signed.
  const bySaving = loaded.reissue && transport.reissueBySaving;
  return { maxAge, meta, expire, force: loaded.reseal === true || bySaving, reissue: loaded.reissue && !bySaving, remember: true };
}

/**
 * Store mode. At most one store read for our cookie, plus one for a koa-session cookie when `legacy`
 * is on. What was found goes to `adopt`; a promise is returned only while waiting for the store, so
 * a store that answers synchronously (MemoryStore) costs no promise.
 */
export function loadFromStore(
  ctx: Context,
  runtime: SharedState,
  store: SessionStore,
  maxAge: MaxAge | undefined,
  adopt: (loaded: Loaded) => void,
): Promise<void> | undefined {
  const { options } = runtime;
  const incoming = readSessionId(ctx, options, runtime.verified);
  const id = incoming.id;
  if (id === undefined) return handOver(withoutSession(ctx, runtime, store, incoming), adopt);
  let storeKey = runtime.storeKeys.get(id);
  if (storeKey === undefined) {
    storeKey = storeKeyFor(id, options.prefix);
    runtime.storeKeys.offer(id, storeKey);
  }
  const key = storeKey;
  const answer = storeCall(ctx, "get", options.storeTimeout, () => store.get(key, maxAge, { rolling: options.rolling, ctx }), store);
  // The caller's adopt runs inside this one `then`, not in a `then` of its own on a promise of the
  // Loaded: one promise and one microtask fewer on every asynchronous read.
  if (isThenable(answer)) return Promise.resolve(answer).then((value) => handOver(adoptStored(ctx, runtime, store, incoming, key, value), adopt));
  return handOver(adoptStored(ctx, runtime, store, incoming, key, answer), adopt);
}

/** Gives `adopt` what was found: at once, or when a legacy lookup it waits for has answered. */
function handOver(loaded: Loaded | Promise<Loaded>, adopt: (loaded: Loaded) => void): Promise<void> | undefined {
  if (isThenable(loaded)) return loaded.then(adopt);
  adopt(loaded);
  return undefined;
}

/** What the store returned for the id the request carries. */
function adoptStored(ctx: Context, runtime: SharedState, store: SessionStore, incoming: IncomingId, storeKey: string, value: unknown): Loaded | Promise<Loaded> {
  const stored = normalizeStored(value);
  if (accept(ctx, runtime, stored, storeKey)) {
    return {
      stored: stored as StoredSession,
      identity: { id: incoming.id as string, storeKey, signature: incoming.signature },
      reissue: incoming.keyIndex > 0,
      stale: false,
    };
  }
  // An entry the store could not parse (stores/call.ts): no session, but the cookie is kept.
  return withoutSession(ctx, runtime, store, incoming, value !== CORRUPT_ENTRY);
}

/** None of ours is usable: a koa-session session (when `legacy` is on), or none. */
function withoutSession(ctx: Context, runtime: SharedState, store: SessionStore, incoming: IncomingId, clearId = true): Loaded | Promise<Loaded> {
  const stale = incoming.stale || (clearId && incoming.id !== undefined);
  if (runtime.legacy) return adoptLegacyFromStore(ctx, runtime, runtime.legacy, store, incoming, stale);
  return noSession(ctx, incoming, stale);
}

async function adoptLegacyFromStore(ctx: Context, runtime: SharedState, legacy: LegacyReader, store: SessionStore, incoming: IncomingId, stale: boolean): Promise<Loaded> {
  const found = await legacy.read(ctx, store);
  const stored = found ? normalizeStored(found.stored) : null;
  if (found && accept(ctx, runtime, stored, found.legacyStoreKey ?? found.successor?.storeKey)) {
    const identity = found.successor ? { id: found.successor.id, storeKey: found.successor.storeKey } : undefined;
    // Moved by a parallel request already: an ordinary session under the successor id, whose cookie
    // this client still has to receive.
    if (found.alreadyMoved) return { stored: stored as StoredSession, identity, reissue: true, stale: false };
    return { ...adoptLegacy(stored as StoredSession, found.legacyStoreKey), identity };
  }
  // A koa-session cookie the legacy reader looked up has had its event (accept above): one per request.
  return noSession(ctx, incoming, stale, found !== undefined);
}

function noSession(ctx: Context, incoming: IncomingId, stale: boolean, reported = false): Loaded {
  // A cookie that failed verification (and was no koa-session cookie either): forged, tampered,
  // or signed with a key that was retired. Not a value that passed (or, with signed: false, needed)
  // no verification but is not shaped like an id: nothing was forged there, and an alert on the
  // security stream for every stray unsigned cookie would be noise; it gets session:missed below.
  if (incoming.stale && !incoming.malformed) auditEvent(ctx, "session.invalid_signature", { reason: "id cookie failed verification" });
  // A value that can't be one of our ids is not looked up (an unsigned cookie or an external key can
  // carry anything, and no store holds it), but koa-session looked it up and emitted session:missed,
  // and listeners count on that event for "the client sent a session we don't have". `key` is
  // undefined because no store key was read; a hash of the value would name an entry nobody asked for.
  if (incoming.malformed && !reported) emit(ctx, "missed", { key: undefined, value: null, ctx });
  return stale ? { reissue: false, stale } : NOTHING;
}

/** Cookie mode: open the sealed cookie (called lazily, on first access to ctx.session). */
export function loadFromCookie(ctx: Context, runtime: SharedState, sealer: Sealer): Loaded {
  const { options } = runtime;
  const sealed = openSealedCookie(ctx, options, sealer, runtime.opened);
  if (sealed.kind === "none") return NOTHING;
  if (sealed.kind === "unopened") {
    const legacy = runtime.legacy?.readCookie(ctx);
    const stored = legacy ? normalizeStored(legacy) : null;
    if (stored && accept(ctx, runtime, stored, undefined)) return adoptLegacy(stored, undefined);
    debug("sealed cookie %s did not open; starting a fresh session", logTag(sealed.token));
    auditEvent(ctx, "session.invalid_signature", { reason: "sealed cookie did not open" });
  } else if (sealed.kind === "expired") {
    emit(ctx, "expired", { key: undefined, value: sealed.stored, ctx });
    const userId = sealed.stored?._sk?.userId;
    auditEvent(ctx, "session.expired", { userId: typeof userId === "string" ? userId : undefined, reason: "cookie expired" });
  } else if (accept(ctx, runtime, sealed.stored, undefined)) {
    const stored = sealed.stored as StoredSession;
    return { stored, reissue: sealed.keyIndex > 0, stale: false, reseal: resealBrowserSession(options, stored, sealed.expiresAt) };
  }
  return { reissue: false, stale: true };
}

/**
 * A browser-session cookie (maxAge "session") is sealed to end a day after it was made, since a
 * copied cookie must not live forever. Re-sealed once less than half of that day is left, a session
 * in use lasts as long as the browser, as koa-session's does, instead of ending a day after its last
 * change however often it is read.
 */
function resealBrowserSession(options: ResolvedOptions, stored: StoredSession, sealedUntil: number | undefined): boolean {
  const browserSession = stored._session === true || (stored._maxAge === undefined && options.maxAge === "session");
  return browserSession && sealedUntil !== undefined && sealedUntil - Date.now() < ONE_DAY_MS / 2;
}

function adoptLegacy(stored: StoredSession, storeKey: string | undefined): Loaded {
  debug("accepted a koa-session session once; re-issuing it in koa-sessionkit's format");
  return { stored, reissue: false, stale: false, legacy: { storeKey } };
}

/** Accepted unless missing, expired or refused by the app's `valid`; each refusal is a koa-session event. */
function accept(ctx: Context, runtime: SharedState, stored: StoredSession | null, key: string | undefined): boolean {
  const reason = rejectReason(ctx, runtime.options, stored);
  if (reason) emit(ctx, reason, { key, value: stored, ctx });
  if (reason === "expired") {
    const userId = stored?._sk?.userId;
    auditEvent(ctx, "session.expired", { userId: typeof userId === "string" ? userId : undefined, storeKey: key, reason: "session expired" });
  }
  return reason === null;
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

export function emit(ctx: Context, event: "missed" | "expired" | "invalid" | "legacy-kept", data: SessionEvent): void {
  debug("session %s", event);
  // After the response path has moved on, as koa-session does: a listener can't delay the request.
  setImmediate(() => ctx.app.emit(`session:${event}`, data));
}

// ---------------------------------------------------------------- reading what the client sent

/**
 * What a custom genid may return: 1 to 256 characters a cookie value may hold unquoted (RFC 6265's
 * cookie-octet: printable ASCII but `"` `,` `;` `\`), since the id is written into Set-Cookie as is.
 */
export const CUSTOM_ID = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,256}$/;
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
  /**
   * The client sent a value (an unsigned or verified cookie, or an external key) that is not shaped
   * like one of our ids: no store read, but a session:missed event, as koa-session emitted for it.
   */
  malformed?: boolean | undefined;
}

export function readSessionId(ctx: Context, options: ResolvedOptions, cache?: VerifiedCache<number>): IncomingId {
  if (options.externalKey) {
    const value: unknown = options.externalKey.get(ctx);
    const id = typeof value === "string" && idLooksValid(value, options) ? value : undefined;
    // koa-session treats an empty (falsy) key as none at all; anything else it looked up.
    return { id, keyIndex: 0, stale: false, malformed: id === undefined && Boolean(value) };
  }
  const cookie = readCookie(ctx, options, cache);
  if (!cookie) return { id: undefined, keyIndex: 0, stale: rawCookie(ctx, options.key) !== undefined };
  if (!idLooksValid(cookie.value, options)) return { id: undefined, keyIndex: 0, stale: true, malformed: true };
  return { id: cookie.value, keyIndex: cookie.keyIndex, stale: false, signature: cookie.keyIndex === 0 ? cookie.signature : undefined };
}

export function rawCookie(ctx: Context, name: string): string | undefined {
  return requestCookie(ctx, name) || undefined;
}

export type SealedCookie =
  | { kind: "none" }
  | { kind: "unopened"; token: string }
  | { kind: "expired"; stored: StoredSession | null }
  | { kind: "opened"; stored: StoredSession | null; keyIndex: number; expiresAt: number | undefined };

/**
 * An opened cookie as the cache keeps it. `template` is its payload parsed once and frozen, kept
 * only when sharing it between requests is safe (see flatTemplate in stores/json.ts); null when not.
 */
export interface OpenedCookie extends Opened {
  template?: StoredSession | null;
}

/** Open cookie mode's sealed token: its lifetime is enforced here, whatever the browser kept. */
export function openSealedCookie(ctx: Context, options: ResolvedOptions, sealer: Sealer, cache?: VerifiedCache<OpenedCookie>): SealedCookie {
  const token = rawCookie(ctx, options.key);
  if (!token) return { kind: "none" };
  // A returning browser sends the same sealed text each time: decrypt it once. The expiry inside
  // is still checked on every request below.
  let opened: OpenedCookie | null = cache?.get(token) ?? null;
  // Kept: the cookie is in the cache (so it is worth a template), not one seen for the first time.
  let kept = opened !== null;
  if (!opened) {
    opened = sealer.open(token, options.key);
    if (opened) kept = cache?.offer(token, opened) ?? false;
  }
  if (!opened) return { kind: "unopened", token };
  // Expired: the session is still handed to the session:expired event, as koa-session does.
  if (opened.expiresAt !== undefined && opened.expiresAt <= Date.now()) return { kind: "expired", stored: decodePayload(options, opened.payload) };
  if (options.decode) return { kind: "opened", stored: decodePayload(options, opened.payload), keyIndex: opened.keyIndex, expiresAt: opened.expiresAt };
  // The same cookie parses to the same session every time: parse it once. The frozen template is
  // handed out only when the request can't change it through the object (flat values; the
  // controller copies them into the request's own Session) and nobody else sees it (no `valid`
  // hook, and accepted, so no event carries it); otherwise each request parses its own copy. A
  // cookie the cache did not keep (seen once in a while) is parsed plainly: freezing a template
  // nobody reads again costs more than the parse.
  if (!kept) return { kind: "opened", stored: parseStored(opened.payload), keyIndex: opened.keyIndex, expiresAt: opened.expiresAt };
  opened.template ??= flatTemplate(opened.payload, true);
  const template = opened.template;
  const stored = template && !options.valid && rejectReason(ctx, options, template) === null ? template : parseStored(opened.payload);
  return { kind: "opened", stored, keyIndex: opened.keyIndex, expiresAt: opened.expiresAt };
}

/** A sealed cookie's payload as a session (through the app's `decode` when given); null if it isn't one. */
function decodePayload(options: ResolvedOptions, payload: string): StoredSession | null {
  if (!options.decode) return parseStored(payload);
  try {
    const decoded = options.decode(payload);
    return isPlainRecord(decoded) ? normalizeStored(decoded) : null;
  } catch {
    return null;
  }
}
