/**
 * Phase 2 of a request, the write: how a commit reaches the store, the cheapest operation that is
 * still correct, and the ids of new sessions.
 *
 *   refresh of unchanged data (rolling, renew, touch) → touch: no data rewrite
 *   changed data on an existing entry                 → merge: only the changed keys; never recreates
 *   anything else (new entry, forced save, no merge)  → set: the whole session
 *
 * The controller (context-session.ts) keeps the request's state and asks saveReason *whether* to
 * save, then builds the SaveInput; the transport (transport.ts) calls writeToStore and sends the cookie.
 */
import type { Context } from "koa";
import { SessionConfigError } from "../errors.js";
import { isThenable, storeCall } from "../stores/call.js";
import type { MaxAge, SessionMeta, SessionStore, StoredSession, StoreSetOptions } from "../stores/contract.js";
import { stringifyJson } from "../stores/deep-json.js";
import { parseStored, withRawJson } from "../stores/json.js";
import { diffData } from "./changes.js";
import { CUSTOM_ID } from "./load.js";
import { ONE_DAY_MS, type ResolvedOptions } from "./options.js";
import { reservedOf, splitReserved, type Session } from "./session.js";
import type { Snapshot } from "./snapshot.js";

export type SaveReason = "" | "force" | "changed" | "rolling" | "renew" | "touch";

/** What is written: reserved fields first, so comparing with the loaded text needs one serialize. */
export function storedObject(data: Record<string, unknown>, expire: number | undefined, maxAge: MaxAge | undefined, meta: SessionMeta | undefined): StoredSession {
  const stored: StoredSession = {};
  if (expire !== undefined) stored._expire = expire;
  // No _maxAge when none was set, so a reloaded session keeps its browser-session cookie.
  if (maxAge === "session") stored._session = true;
  else if (typeof maxAge === "number") stored._maxAge = maxAge;
  if (meta) stored._sk = meta;
  return Object.assign(stored, data);
}

/** No maxAge set (option, this session, or a loaded _maxAge): a browser-session cookie, as koa-session sends. */
export function cookieExpires(expire: number | undefined, maxAge: MaxAge | undefined): Date | undefined {
  return expire === undefined || maxAge === undefined ? undefined : new Date(expire);
}

/** Work a commit still owes: set during the request, reset in one place (#settle) once saved. */
export interface Pending {
  /** Save even when the data is unchanged (save(), a new maxAge, a legacy or re-sealed session). */
  force: boolean;
  /** Refresh lastSeenAt in the store (auth's idle timeout). */
  touch: boolean;
  /** Send the id again, signed with the first key. */
  reissue: boolean;
  metaChanged: boolean;
  /** The client sent a cookie we don't use: expire it. */
  clearCookie: boolean;
  /** A koa-session session accepted on this request, to retire after it is saved in our format. */
  legacy: { storeKey: string | undefined } | undefined;
}

/** Nothing owed (a literal, not a spread of a frozen template: this runs once per request). */
export function settled(): Pending {
  return { force: false, touch: false, reissue: false, metaChanged: false, clearCookie: false, legacy: undefined };
}

/**
 * Why this commit writes, or "" when it needn't: the data changed, or unchanged data is refreshed
 * (rolling, renew, an idle-timeout touch). Positional arguments, not an object: it runs on every
 * request's commit.
 */
export function saveReason(
  session: Session,
  snapshot: Snapshot,
  options: ResolvedOptions,
  pending: Pending,
  expire: number | undefined,
  maxAge: MaxAge | undefined,
  meta: SessionMeta | undefined,
): SaveReason {
  // A session loaded with only primitive values (the usual { userId, role }) is compared value by
  // value: no JSON at all on a read-only request, and no re-parse on a write.
  if (snapshot.json !== undefined && snapshot.hasPrimitives && !pending.metaChanged) {
    return snapshot.samePrimitives(session) ? refreshReason(options, pending, expire, maxAge) : "changed";
  }
  const data = session.toJSON();
  if (snapshot.json === undefined) {
    // New and empty: never stored, no cookie (and a stale cookie is cleared by the caller).
    return Object.keys(data).length > 0 ? "changed" : "";
  }
  const json = stringifyJson(storedObject(data, expire, maxAge, meta));
  if (json !== snapshot.json) {
    if (snapshot.differs(data, storedObject({}, expire, maxAge, meta))) return "changed";
    // Same content in another spelling (a store that reorders keys, jsonb): compare fast next time.
    snapshot.json = json;
  }
  return refreshReason(options, pending, expire, maxAge);
}

/** Unchanged data: refresh only when rolling, renew or a touch asks for it. */
function refreshReason(options: ResolvedOptions, pending: Pending, expire: number | undefined, maxAge: MaxAge | undefined): SaveReason {
  if (options.rolling) return "rolling";
  const lifetime = maxAge ?? ONE_DAY_MS;
  if (options.renew && typeof lifetime === "number" && expire !== undefined && expire - Date.now() < lifetime / 2) return "renew";
  return pending.touch ? "touch" : "";
}

/** One save, as the controller built it. */
export interface SaveInput {
  reason: SaveReason;
  /**
   * Reserved fields first. writeToStore attaches `json` under RAW_JSON only for the store calls that
   * take the object (set, touch): a merge gets the text itself, and the attach costs ~0.3 µs.
   */
  stored: StoredSession;
  json: string;
  data: Record<string, unknown>;
  /** The session's JSON as loaded or last saved; undefined for an entry not yet in the store. */
  previousJson: string | undefined;
  /** The data as loaded, when the controller still has it; otherwise it is parsed from previousJson. */
  previousData: Record<string, unknown> | undefined;
  /** The session's lifetime (one day when none was set). */
  maxAge: MaxAge;
  now: number;
  expire: number | undefined;
  /** Undefined for a browser-session cookie. */
  cookieExpires: Date | undefined;
  /** An older key verified the cookie: send it again, signed with the first. */
  reissue: boolean;
  /** A koa-session session accepted on this request that the handler did not change. */
  legacyUnchanged: boolean;
  /** This request's options (ctx.sessionOptions may have changed cookie attributes or rolling). */
  options: ResolvedOptions;
}

/**
 * One commit at a time per request: a commit while another is in flight (an un-awaited
 * ctx.session.save(), then the middleware's own commit) waits for it, or a new session would be
 * stored twice, under two ids, the first left behind.
 */
export class OneWriteAtATime {
  #current: Promise<void> | undefined;

  /** The write in flight, if any: a new commit waits for it. */
  get current(): Promise<void> | undefined {
    return this.#current;
  }

  /** Remember `writing` as the write in flight until it settles. */
  track(writing: Promise<void>): Promise<void> {
    const tracked = writing.finally(() => {
      if (this.#current === tracked) this.#current = undefined;
    });
    this.#current = tracked;
    return tracked;
  }
}

/** What a save needs from the controller's state. */
export interface SaveState {
  reason: SaveReason;
  now: number;
  /** This session's lifetime, undefined when none was set. */
  maxAge: MaxAge | undefined;
  /** The session's metadata, lastSeenAt already moved to now. */
  meta: SessionMeta;
  snapshot: Snapshot;
  pending: Pending;
  options: ResolvedOptions;
}

/** Build one save: the stored object, its text, and the cookie's expiry. */
export function saveInput(session: Session, state: SaveState): SaveInput {
  // Without a maxAge the session still ends after one day, as in koa-session.
  const maxAge = state.maxAge ?? ONE_DAY_MS;
  const expire = typeof maxAge === "number" ? state.now + maxAge : undefined;
  const data = session.toJSON();
  const stored = storedObject(data, expire, state.maxAge, state.meta);
  const json = stringifyJson(stored);
  const { reason, pending } = state;
  return {
    reason,
    stored,
    json,
    data,
    previousJson: state.snapshot.json,
    previousData: state.snapshot.data(),
    maxAge,
    now: state.now,
    expire,
    cookieExpires: cookieExpires(expire, state.maxAge),
    reissue: pending.reissue,
    legacyUnchanged: pending.legacy !== undefined && reason !== "changed" && reason !== "force",
    options: state.options,
  };
}

export interface StoreCall {
  ttl: MaxAge;
  timeout: number;
  setOptions: StoreSetOptions;
}

/**
 * False when the entry turned out to be destroyed by another request (destroy wins). Synchronous when
 * the store answers synchronously (MemoryStore): a write then costs no promise, as a read costs none.
 */
export function writeToStore(store: SessionStore, key: string, input: SaveInput, call: StoreCall): boolean | Promise<boolean> {
  const { stored, previousJson, reason } = input;
  const { ttl, timeout, setOptions } = call;
  const exists = previousJson !== undefined;
  const ctx = setOptions.ctx;
  if (exists && (reason === "rolling" || reason === "renew" || reason === "touch") && store.touch) {
    withRawJson(stored, input.json);
    const touched = storeCall(ctx, "touch", timeout, () => store.touch?.(key, stored, ttl, setOptions), store);
    return isThenable(touched) ? Promise.resolve(touched).then(succeeded) : true;
  }
  // A forced save (save(), a new maxAge) of an existing entry merges too, so it can't revive a
  // session that a concurrent logout destroyed.
  if (exists && (reason === "changed" || reason === "force") && store.merge) {
    const before = input.previousData ?? splitReserved(parseStored(previousJson) ?? {}).data;
    const changes = diffData(before, input.data, reservedOf(stored));
    changes.base = previousJson;
    changes.result = input.json;
    const merged = storeCall(ctx, "merge", timeout, () => store.merge?.(key, changes, ttl, setOptions), store);
    return isThenable(merged) ? Promise.resolve(merged).then(mergeSucceeded) : mergeSucceeded(merged);
  }
  withRawJson(stored, input.json);
  const set = storeCall(ctx, "set", timeout, () => store.set(key, stored, ttl, setOptions), store);
  return isThenable(set) ? Promise.resolve(set).then(succeeded) : true;
}

/** A touch or set that settled wrote the entry. */
const succeeded = (): boolean => true;
/** A merge's answer: anything but false counts as merged (docs/stores.md). */
const mergeSucceeded = (answer: unknown): boolean => answer !== false;

/** Below 22 characters an id can't carry 128 random bits (22 base64 characters hold 132). */
const WEAK_ID_CHARS = 22;
/** genid functions already warned about, so each warns once per process. */
const warnedGenids = new WeakSet<object>();

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
