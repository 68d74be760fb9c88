/**
 * The per-request controller behind `ctx.session`: load (verify cookie → hash id → one store read),
 * hand the model to the handler, then commit exactly what is needed:
 *
 *   untouched        → no store write, no Set-Cookie
 *   changed          → merge (only changed keys) or set, then the cookie
 *   rolling / renew  → touch (no data rewrite), then the cookie
 *   destroyed        → store destroy, cookie expired; an in-flight merge can't bring it back
 */
import type { Context } from "koa";
import { debuglog } from "node:util";
import { SessionTooLargeError } from "../errors.js";
import { generateId, ID_PATTERN, logTag, storeKeyFor } from "../crypto/ids.js";
import type { Sealer } from "../crypto/seal.js";
import type { MaxAge, SessionMeta, SessionStore, StoredSession } from "../stores/contract.js";
import { parseStored, safeParse, withRawJson, rawJsonOf, isPlainRecord } from "./codec.js";
import { diffData, splitStored } from "./changes.js";
import { clearCookie, cookieBytes, COOKIE_LIMIT_BYTES, readCookie, writeCookie } from "./cookies.js";
import { ONE_DAY_MS, type ResolvedOptions } from "./options.js";
import { isDataKey, Session, type SessionController } from "./session.js";
import { callStore } from "./store-call.js";
import type { SessionEvent } from "./types.js";

const debug = debuglog("koa-sessionkit:session");
/** The store entry outlives the cookie by 10 s so a cookie never points at a row that just vanished. */
const STORE_GRACE_MS = 10_000;
const CUSTOM_ID = /^[\x21-\x7e]{1,256}$/;

/** A koa-session 7 session found on this request (see legacy.ts). */
export interface LegacySession {
  stored: StoredSession;
  /** The koa-session store key to destroy once the session is re-issued. */
  legacyStoreKey?: string;
}

export interface LegacyReader {
  /** Store mode: the koa-session session this request carries (Keygrip-signed id → entry under the raw id). */
  read(ctx: Context, store: SessionStore | undefined): Promise<LegacySession | undefined>;
  /** Cookie mode: the koa-session cookie-mode session (Keygrip-signed base64 JSON) this request carries. */
  readCookie(ctx: Context): StoredSession | undefined;
}

/** Shared by every request of one `session()` middleware. */
export interface Runtime {
  options: ResolvedOptions;
  store: SessionStore | undefined;
  sealer: Sealer | undefined;
  legacy: LegacyReader | undefined;
}

type SaveReason = "" | "force" | "changed" | "rolling" | "renew" | "touch";

export class ContextSession implements SessionController {
  readonly ctx: Context;
  readonly options: ResolvedOptions;
  /** `ctx.sessionOptions`: this request's copy, so a per-session maxAge never leaks to others. */
  readonly sessionOptions: Omit<ResolvedOptions, "maxAge"> & { maxAge: MaxAge | undefined };
  readonly store: SessionStore | undefined;
  readonly #runtime: Runtime;

  #session: Session | null | undefined;
  #id: string | undefined;
  #storeKey: string | undefined;
  #isNew = true;
  #meta: SessionMeta | undefined;
  #expire: number | undefined;
  /** JSON text of the session as loaded or last saved; undefined for a session not in the store yet. */
  #savedJson: string | undefined;
  #force = false;
  #touch = false;
  #reissue = false;
  #staleCookie = false;
  #legacyKey: string | undefined;

  constructor(ctx: Context, runtime: Runtime) {
    this.ctx = ctx;
    this.#runtime = runtime;
    this.options = runtime.options;
    this.sessionOptions = { ...runtime.options };
    this.store = runtime.options.ContextStore ? new runtime.options.ContextStore(ctx) : runtime.store;
  }

  get isNew(): boolean {
    return this.#isNew;
  }
  get storeKey(): string | undefined {
    return this.#storeKey;
  }
  get maxAge(): MaxAge | undefined {
    return this.sessionOptions.maxAge;
  }
  set maxAge(value: MaxAge | undefined) {
    this.sessionOptions.maxAge = value;
  }
  requireSave(): void {
    this.#force = true;
  }

  /** Library metadata (auth reads it); a copy, change it with updateMeta. */
  get meta(): Readonly<SessionMeta> | undefined {
    return this.#meta;
  }
  /** Change metadata; it is saved with the session at commit. */
  updateMeta(patch: Partial<SessionMeta>): void {
    this.#meta = { ...(this.#meta ?? { createdAt: Date.now() }), ...patch };
  }
  /** Persist lastSeenAt (and extend the entry) without rewriting data: store.touch when available. */
  requestTouch(): void {
    this.#touch = true;
  }
  /** Absolute expiry of this session in ms, if any. */
  get expiresAt(): number | undefined {
    return this.#expire;
  }

  // ---------------------------------------------------------------- load

  /** Store mode: read the session before the handler runs. At most one store read. */
  async load(): Promise<void> {
    const id = this.#readId();
    if (id !== undefined) {
      const storeKey = storeKeyFor(id, this.options.prefix);
      const store = this.store as SessionStore;
      const stored = normalize(
        await callStore("get", this.options.storeTimeout, () =>
          store.get(storeKey, this.sessionOptions.maxAge, { rolling: this.options.rolling, ctx: this.ctx })),
      );
      if (this.#accept(stored, storeKey)) {
        this.#id = id;
        this.#storeKey = storeKey;
        this.#adopt(stored as StoredSession);
        return;
      }
      this.#staleCookie = true;
    }
    await this.#loadLegacy();
  }

  #readId(): string | undefined {
    const { externalKey } = this.options;
    if (externalKey) {
      const value = externalKey.get(this.ctx);
      return typeof value === "string" && this.#idLooksValid(value) ? value : undefined;
    }
    const cookie = readCookie(this.ctx, this.options);
    if (!cookie) {
      this.#staleCookie = this.#hasRawCookie();
      return undefined;
    }
    if (!this.#idLooksValid(cookie.value)) {
      debug("cookie value is not a session id; ignored without a store lookup");
      this.#staleCookie = true;
      return undefined;
    }
    if (cookie.keyIndex > 0) this.#reissue = true; // verified by an older key: re-sign with the first
    return cookie.value;
  }

  #idLooksValid(id: string): boolean {
    return this.options.genid ? CUSTOM_ID.test(id) : ID_PATTERN.test(id);
  }

  #hasRawCookie(): boolean {
    try {
      return Boolean(this.ctx.cookies.get(this.options.key, { signed: false }));
    } catch {
      return false;
    }
  }

  async #loadLegacy(): Promise<void> {
    if (!this.#runtime.legacy) return;
    const found = await this.#runtime.legacy.read(this.ctx, this.store);
    if (!found) return;
    const stored = normalize(found.stored);
    if (!this.#accept(stored, found.legacyStoreKey)) return;
    debug("accepted a koa-session cookie once; re-issuing it in koa-sessionkit's format");
    this.#adopt(stored as StoredSession);
    // A new id, a hashed store key, a SHA-256 signature or sealed cookie: written at commit.
    this.#savedJson = undefined;
    this.#force = true;
    this.#legacyKey = found.legacyStoreKey;
    this.#staleCookie = false;
  }

  /** Cookie mode: open the sealed cookie (lazily, on first access to ctx.session). */
  #loadFromCookie(): void {
    const sealer = this.#runtime.sealer as Sealer;
    let token: string | undefined;
    try {
      token = this.ctx.cookies.get(this.options.key, { signed: false });
    } catch {
      token = undefined;
    }
    if (!token) return;
    const opened = sealer.open(token, this.options.key);
    if (!opened) {
      const legacy = this.#runtime.legacy?.readCookie(this.ctx);
      const stored = legacy ? normalize(legacy) : null;
      if (stored && this.#accept(stored, undefined)) {
        debug("accepted a koa-session cookie once; re-sealing it");
        this.#adopt(stored);
        this.#force = true;
        return;
      }
      debug("sealed cookie %s did not open; starting a fresh session", logTag(token));
      this.#staleCookie = true;
      return;
    }
    if (opened.expiresAt !== undefined && opened.expiresAt <= Date.now()) {
      this.#emit("expired", { key: undefined, value: undefined, ctx: this.ctx });
      this.#staleCookie = true;
      return;
    }
    let stored: StoredSession | null = null;
    try {
      const decoded = this.options.decode ? this.options.decode(opened.payload) : safeParse(opened.payload);
      stored = normalize(isPlainRecord(decoded) ? (decoded as StoredSession) : null);
    } catch {
      stored = null;
    }
    if (!this.#accept(stored, undefined)) {
      this.#staleCookie = true;
      return;
    }
    this.#adopt(stored as StoredSession);
    if (opened.keyIndex > 0) this.#reissue = true;
  }

  #accept(stored: StoredSession | null, key: string | undefined): boolean {
    const event: SessionEvent = { key, value: stored, ctx: this.ctx };
    if (!stored) {
      this.#emit("missed", event);
      return false;
    }
    const now = Date.now();
    const absolute = stored._sk?.absoluteExpiresAt;
    if ((typeof stored._expire === "number" && stored._expire < now) || (typeof absolute === "number" && absolute <= now)) {
      this.#emit("expired", event);
      return false;
    }
    if (this.options.valid && !this.options.valid(this.ctx, stored)) {
      this.#emit("invalid", event);
      return false;
    }
    return true;
  }

  #adopt(stored: StoredSession): void {
    if (typeof stored._maxAge === "number") this.sessionOptions.maxAge = stored._maxAge;
    else if (stored._session === true) this.sessionOptions.maxAge = "session";
    this.#meta = isPlainRecord(stored._sk) ? { ...(stored._sk as SessionMeta) } : undefined;
    this.#expire = typeof stored._expire === "number" ? stored._expire : undefined;
    this.#savedJson = rawJsonOf(stored);
    this.#isNew = false;
    this.#session = new Session(this, stored);
  }

  #emit(event: "missed" | "expired" | "invalid", data: SessionEvent): void {
    debug("session %s", event);
    setImmediate(() => this.ctx.app.emit(`session:${event}`, data));
  }

  // ---------------------------------------------------------------- ctx.session

  get(): Session | null {
    if (this.#session === undefined) {
      if (this.options.mode === "cookie") this.#loadFromCookie();
      if (this.#session === undefined) this.#session = new Session(this);
    }
    return this.#session;
  }

  set(value: unknown): void {
    if (value === null) {
      this.#session = null;
      return;
    }
    if (typeof value === "object" && !Array.isArray(value)) {
      if (this.#session === undefined && this.options.mode === "cookie") this.get();
      this.#session = new Session(this, value as Record<string, unknown>);
      return;
    }
    throw new TypeError("koa-sessionkit: ctx.session can only be set to null or an object");
  }

  // ---------------------------------------------------------------- commit

  async commit(options: { save?: boolean; regenerate?: boolean } = {}): Promise<void> {
    const session = this.#session;
    if (session === undefined) {
      if (this.#staleCookie) this.#clear();
      return;
    }
    if (session === null) {
      await this.#destroy();
      return;
    }
    if (options.regenerate) await this.#regenerate();
    const reason: SaveReason = options.save || options.regenerate || this.#force ? "force" : this.#reason(session);
    debug("commit: %s", reason || "nothing to save");
    if (!reason) {
      if (this.#reissue && this.#id !== undefined) this.#writeIdCookie(this.#id);
      else if (this.#staleCookie) this.#clear();
      return;
    }
    this.options.beforeSave?.(this.ctx, session);
    await this.#save(session, reason);
  }

  #reason(session: Session): SaveReason {
    const data = session.toJSON();
    if (this.#savedJson === undefined) {
      // New and empty: never stored, no cookie (and a stale cookie is cleared by the caller).
      return Object.keys(data).length > 0 ? "changed" : "";
    }
    if (this.#serialize(data, this.#expire) !== this.#savedJson) return "changed";
    if (this.options.rolling) return "rolling";
    const maxAge = this.sessionOptions.maxAge;
    if (this.options.renew && typeof maxAge === "number" && this.#expire !== undefined && this.#expire - Date.now() < maxAge / 2) {
      return "renew";
    }
    return this.#touch ? "touch" : "";
  }

  /** Reserved fields first, so comparing with the loaded text needs one serialize, not two. */
  #storedObject(data: Record<string, unknown>, expire: number | undefined): StoredSession {
    const maxAge = this.sessionOptions.maxAge;
    const stored: StoredSession = {};
    if (expire !== undefined) stored._expire = expire;
    if (maxAge === "session") stored._session = true;
    else if (typeof maxAge === "number") stored._maxAge = maxAge;
    if (this.#meta) stored._sk = this.#meta;
    return Object.assign(stored, data);
  }

  #serialize(data: Record<string, unknown>, expire: number | undefined): string {
    return JSON.stringify(this.#storedObject(data, expire));
  }

  async #save(session: Session, reason: SaveReason): Promise<void> {
    const now = Date.now();
    const maxAge = this.sessionOptions.maxAge ?? ONE_DAY_MS;
    const expire = typeof maxAge === "number" ? now + maxAge : undefined;
    this.#meta = { ...(this.#meta ?? { createdAt: now }), lastSeenAt: now };
    const data = session.toJSON();
    const stored = this.#storedObject(data, expire);
    const json = JSON.stringify(stored);
    const cookieExpires = expire === undefined ? undefined : new Date(expire);

    if (this.options.mode === "cookie") {
      this.#writeSealed(json, stored, now, expire ?? now + ONE_DAY_MS, cookieExpires);
    } else {
      const written = await this.#writeStore(stored, json, data, reason, maxAge);
      if (!written) return;
    }
    this.#savedJson = json;
    this.#expire = expire;
    this.#force = false;
    this.#touch = false;
    this.#reissue = false;
  }

  /** Resolves false when the session turned out to be destroyed meanwhile (destroy wins). */
  async #writeStore(stored: StoredSession, json: string, data: Record<string, unknown>, reason: SaveReason, maxAge: MaxAge): Promise<boolean> {
    const store = this.store as SessionStore;
    const timeout = this.options.storeTimeout;
    const ttl: MaxAge = typeof maxAge === "number" ? maxAge + STORE_GRACE_MS : maxAge;
    const setOptions = { changed: reason === "changed", rolling: this.options.rolling, ctx: this.ctx };
    const isNewEntry = this.#id === undefined || this.#savedJson === undefined;
    if (this.#id === undefined) {
      this.#id = this.options.genid ? this.#customId() : generateId();
      this.#storeKey = storeKeyFor(this.#id, this.options.prefix);
    }
    const key = this.#storeKey as string;
    withRawJson(stored, json);

    if (!isNewEntry && (reason === "rolling" || reason === "renew" || reason === "touch") && store.touch) {
      await callStore("touch", timeout, () => store.touch?.(key, stored, ttl, setOptions));
    } else if (!isNewEntry && reason === "changed" && store.merge && this.#savedJson !== undefined) {
      const before = splitStored(parseStored(this.#savedJson) ?? {}, isDataKey);
      const changes = diffData(before, data, { _expire: stored._expire, _maxAge: stored._maxAge, _session: stored._session, _sk: stored._sk });
      const merged = await callStore("merge", timeout, () => store.merge?.(key, changes, ttl, setOptions));
      if (merged === false) {
        debug("session %s was destroyed by another request; not written back", logTag(key));
        this.#session = null;
        this.#id = this.#storeKey = undefined;
        this.#clear();
        return false;
      }
    } else {
      await callStore("set", timeout, () => store.set(key, stored, ttl, setOptions));
    }
    if (this.#legacyKey !== undefined) {
      const legacyKey = this.#legacyKey;
      this.#legacyKey = undefined;
      await callStore("destroy", timeout, () => store.destroy(legacyKey, { ctx: this.ctx }));
    }
    // Plain "touch" only refreshes server-side bookkeeping; the browser's cookie is unchanged.
    if (reason !== "touch" || this.#reissue) this.#writeIdCookie(this.#id as string, stored._expire);
    return true;
  }

  #customId(): string {
    const id = (this.options.genid as (ctx: Context) => string)(this.ctx);
    if (typeof id !== "string" || !CUSTOM_ID.test(id) || id.length < 22) {
      throw new TypeError(
        "koa-sessionkit: genid must return an unguessable string of 22 to 256 printable characters (at least 128 random bits); remove the genid option to use 256-bit ids",
      );
    }
    return id;
  }

  #writeIdCookie(id: string, expire: number | undefined = this.#expire): void {
    if (this.options.externalKey) {
      this.options.externalKey.set(this.ctx, id);
      return;
    }
    writeCookie(this.ctx, this.options, id, { expires: expire === undefined ? undefined : new Date(expire) });
  }

  #writeSealed(json: string, stored: StoredSession, now: number, serverExpiry: number, cookieExpires: Date | undefined): void {
    const payload = this.options.encode ? this.options.encode(stored) : json;
    const token = (this.#runtime.sealer as Sealer).seal(payload, this.options.key, now, serverExpiry);
    const size = cookieBytes(this.ctx, this.options, token, { expires: cookieExpires });
    if (size > COOKIE_LIMIT_BYTES) throw new SessionTooLargeError(size, COOKIE_LIMIT_BYTES);
    writeCookie(this.ctx, this.options, token, { expires: cookieExpires });
  }

  async #regenerate(): Promise<void> {
    const oldKey = this.#storeKey;
    this.#id = this.#storeKey = undefined;
    this.#savedJson = undefined;
    const now = Date.now();
    this.#meta = { ...(this.#meta ?? {}), createdAt: now, lastSeenAt: now };
    if (oldKey !== undefined && this.store) {
      const store = this.store;
      await callStore("destroy", this.options.storeTimeout, () => store.destroy(oldKey, { ctx: this.ctx }));
    }
  }

  async #destroy(): Promise<void> {
    const key = this.#storeKey;
    this.#id = this.#storeKey = undefined;
    this.#savedJson = undefined;
    if (key !== undefined && this.store) {
      const store = this.store;
      await callStore("destroy", this.options.storeTimeout, () => store.destroy(key, { ctx: this.ctx }));
    }
    if (this.options.externalKey) this.options.externalKey.set(this.ctx, "");
    else this.#clear();
  }

  #clear(): void {
    if (this.options.externalKey) return;
    clearCookie(this.ctx, this.options);
    this.#staleCookie = false;
  }
}

/** Make whatever a store returned into a clean StoredSession with its JSON text attached. */
function normalize(value: unknown): StoredSession | null {
  if (!isPlainRecord(value)) return null;
  if (rawJsonOf(value) !== undefined) return value as StoredSession;
  // A foreign store (koa-redis…) hands back its own object: one serialize gives both a clean,
  // prototype-safe copy and the text that change detection compares against.
  try {
    return parseStored(JSON.stringify(value));
  } catch {
    return null;
  }
}
