/**
 * The per-request controller behind `ctx.session`: load (load.ts: verify cookie → hash id → one
 * store read), hand the model to the handler, then commit exactly what is needed:
 *
 *   untouched        → no store write, no Set-Cookie
 *   changed          → merge (only changed keys) or set, then the cookie
 *   rolling / renew  → touch (no data rewrite), then the cookie
 *   destroyed        → store destroy, cookie expired; an in-flight merge can't bring it back
 */
import type { Context } from "koa";
import { debuglog } from "node:util";
import { generateId, logTag, storeKeyFor } from "../crypto/ids.js";
import type { Sealer } from "../crypto/seal.js";
import type { MaxAge, SessionMeta, SessionStore, StoredSession } from "../stores/contract.js";
import { withRawJson, rawJsonOf, isPlainRecord } from "./codec.js";
import { stringifyJson } from "../stores/deep-json.js";
import { Snapshot } from "./snapshot.js";
import { customId } from "./incoming.js";
import { emit, loadFromCookie, loadFromStore, type Loaded } from "./load.js";
import { writeToStore, type SaveReason } from "./persist.js";
import { clearCompanionSignature, clearCookie, COOKIE_LIMIT_BYTES, cookieBytes, writeCookie, writeSealedCookie } from "./cookies.js";
import { ONE_DAY_MS, sessionOptionsView, type ResolvedOptions, type SessionOptionsView } from "./options.js";
import { Session, type SessionController } from "./session.js";
import { callStore } from "./store-call.js";
import { spendStoreTime } from "../stores/deadline.js";
import type { Runtime } from "./runtime.js";

const debug = debuglog("koa-sessionkit:session");
/** The store entry outlives the cookie by 10 s so a cookie never points at a row that just vanished. */
const STORE_GRACE_MS = 10_000;

export class ContextSession implements SessionController {
  readonly ctx: Context;
  readonly options: ResolvedOptions;
  readonly store: SessionStore | undefined;
  readonly #runtime: Runtime;

  #session: Session | null | undefined;
  #id: string | undefined;
  #storeKey: string | undefined;
  #isNew = true;
  #meta: SessionMeta | undefined;
  #expire: number | undefined;
  readonly #snapshot = new Snapshot();
  #force = false;
  #touch = false;
  #reissue = false;
  #staleCookie = false;
  /** Set while a koa-session session accepted on this request waits to be re-issued. */
  #legacy: { storeKey: string | undefined } | undefined;
  #maxAge: MaxAge | undefined;
  #sessionOptions: SessionOptionsView | undefined;
  #metaChanged = false;
  /** The id the client sent and its verified signature under the first key, reused when re-sent. */
  #signedId: { id: string; signature: string } | undefined;

  constructor(ctx: Context, runtime: Runtime) {
    this.ctx = ctx;
    this.#runtime = runtime;
    this.options = runtime.options;
    this.#maxAge = runtime.options.maxAge;
    this.store = runtime.options.ContextStore ? new runtime.options.ContextStore(ctx) : runtime.store;
  }

  get isNew(): boolean {
    return this.#isNew;
  }
  get storeKey(): string | undefined {
    return this.#storeKey;
  }
  get maxAge(): MaxAge | undefined {
    return this.#maxAge;
  }
  set maxAge(value: MaxAge | undefined) {
    this.#maxAge = value;
  }

  /**
   * `ctx.sessionOptions`: this request's copy, so a per-session maxAge never leaks to others. Made on
   * first read only; most requests never look at it.
   */
  get sessionOptions(): SessionOptionsView {
    return (this.#sessionOptions ??= sessionOptionsView(this.options, () => this.#maxAge, (value) => (this.#maxAge = value)));
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
    this.#metaChanged = true;
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

  /** Store mode: read the session before the handler runs (load.ts). */
  async load(): Promise<void> {
    this.#take(await loadFromStore(this.ctx, this.#runtime, this.store as SessionStore, this.#maxAge));
  }

  #take(loaded: Loaded): void {
    this.#staleCookie = loaded.stale;
    const stored = loaded.stored;
    if (!stored) return;
    if (typeof stored._maxAge === "number") this.#maxAge = stored._maxAge;
    else if (stored._session === true) this.#maxAge = "session";
    this.#meta = isPlainRecord(stored._sk) ? { ...(stored._sk as SessionMeta) } : undefined;
    this.#expire = typeof stored._expire === "number" ? stored._expire : undefined;
    this.#isNew = false;
    const session = new Session(this, stored);
    this.#session = session;
    this.#id = loaded.id;
    this.#storeKey = loaded.storeKey;
    this.#signedId = loaded.signedId;
    if (loaded.legacy) {
      // Accepted once: a new id, a hashed store key and a SHA-256 signature (or a seal) at commit.
      this.#legacy = loaded.legacy;
      if (this.options.mode === "store") {
        this.#force = true;
        return;
      }
      // Cookie mode: remembered as loaded, so the commit can tell a read from a change when the
      // sealed cookie turns out too large for a browser (#save keeps the koa-session cookie then).
    }
    this.#snapshot.remember(rawJsonOf(stored), session);
    // A sealed cookie has no id to re-sign, so re-sealing under key[0] is a save (which restarts
    // maxAge as a renew would); an id cookie is only re-signed.
    if (loaded.reissue) {
      if (this.options.mode === "cookie") this.#force = true;
      else this.#reissue = true;
    }
  }

  // ---------------------------------------------------------------- ctx.session

  get(): Session | null {
    if (this.#session === undefined) {
      if (this.options.mode === "cookie") this.#take(loadFromCookie(this.ctx, this.#runtime));
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
      // Replacing the whole session also ends any login on it: apps that "log out" with
      // `ctx.session = {}` must not stay authenticated through the metadata.
      if (this.#meta?.userId !== undefined) {
        const { userId: _userId, authAt: _authAt, absoluteExpiresAt: _absolute, ...rest } = this.#meta;
        this.#meta = rest;
        this.#metaChanged = true;
      }
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
    if (options.regenerate && !(await this.#regenerate())) return;
    const reason: SaveReason = options.save || options.regenerate || this.#force ? "force" : this.#reason(session);
    debug("commit: %s", reason || "nothing to save");
    if (!reason && !this.#legacy) {
      if (this.#reissue && this.#id !== undefined) this.#writeIdCookie(this.#id, this.#expire);
      else if (this.#staleCookie) this.#clear();
      return;
    }
    this.options.beforeSave?.(this.ctx, session);
    await this.#save(session, reason);
  }

  #reason(session: Session): SaveReason {
    // A session loaded with only primitive values (the usual { userId, role }) is compared value by
    // value: no JSON at all on a read-only request, and no re-parse on a write.
    if (this.#snapshot.json !== undefined && this.#snapshot.hasPrimitives && !this.#metaChanged) {
      return this.#snapshot.samePrimitives(session) ? this.#refreshReason() : "changed";
    }
    const data = session.toJSON();
    if (this.#snapshot.json === undefined) {
      // New and empty: never stored, no cookie (and a stale cookie is cleared by the caller).
      return Object.keys(data).length > 0 ? "changed" : "";
    }
    const json = this.#serialize(data, this.#expire);
    if (json !== this.#snapshot.json) {
      if (this.#snapshot.differs(data, this.#storedObject({}, this.#expire))) return "changed";
      // Same content in another spelling (a store that reorders keys, jsonb): compare fast next time.
      this.#snapshot.json = json;
    }
    return this.#refreshReason();
  }

  /** Unchanged data: refresh only when rolling, renew or a touch asks for it. */
  #refreshReason(): SaveReason {
    if (this.options.rolling) return "rolling";
    const maxAge = this.#maxAge;
    if (this.options.renew && typeof maxAge === "number" && this.#expire !== undefined && this.#expire - Date.now() < maxAge / 2) {
      return "renew";
    }
    return this.#touch ? "touch" : "";
  }

  /** Reserved fields first, so comparing with the loaded text needs one serialize, not two. */
  #storedObject(data: Record<string, unknown>, expire: number | undefined): StoredSession {
    const maxAge = this.#maxAge;
    const stored: StoredSession = {};
    if (expire !== undefined) stored._expire = expire;
    if (maxAge === "session") stored._session = true;
    else if (typeof maxAge === "number") stored._maxAge = maxAge;
    if (this.#meta) stored._sk = this.#meta;
    return Object.assign(stored, data);
  }

  #serialize(data: Record<string, unknown>, expire: number | undefined): string {
    return stringifyJson(this.#storedObject(data, expire));
  }

  async #save(session: Session, reason: SaveReason): Promise<void> {
    const now = Date.now();
    const maxAge = this.#maxAge ?? ONE_DAY_MS;
    const expire = typeof maxAge === "number" ? now + maxAge : undefined;
    this.#meta = { ...(this.#meta ?? { createdAt: now }), lastSeenAt: now };
    const data = session.toJSON();
    const stored = this.#storedObject(data, expire);
    const json = stringifyJson(stored);
    const cookieExpires = expire === undefined ? undefined : new Date(expire);

    if (this.options.mode === "cookie") {
      const payload = this.options.encode ? this.options.encode(stored) : json;
      const token = (this.#runtime.sealer as Sealer).seal(payload, this.options.key, now, expire ?? now + ONE_DAY_MS);
      const lifetime = { expires: cookieExpires };
      if (this.#legacy && reason !== "changed" && reason !== "force" && cookieBytes(this.ctx, this.options, token, lifetime) > COOKIE_LIMIT_BYTES) {
        // A koa-session cookie near 4 KB re-seals larger than a browser keeps. The handler changed
        // nothing, so the browser's koa-session cookie still holds exactly this session: keep it
        // (no Set-Cookie) rather than fail a read; a change that is too large fails as any would.
        debug("koa-session cookie kept: re-sealed it would pass %d bytes", COOKIE_LIMIT_BYTES);
        emit(this.ctx, "legacy-kept", { key: undefined, value: stored, ctx: this.ctx });
        return;
      }
      writeSealedCookie(this.ctx, this.options, token, lifetime);
    } else {
      const written = await this.#writeStore(stored, json, data, reason, maxAge);
      if (!written) return;
    }
    if (this.#legacy) await this.#retireLegacy();
    this.#snapshot.remember(json, session);
    this.#expire = expire;
    this.#metaChanged = false;
    this.#force = false;
    this.#touch = false;
    this.#reissue = false;
  }

  /** Resolves false when the session turned out to be destroyed meanwhile (destroy wins). */
  async #writeStore(stored: StoredSession, json: string, data: Record<string, unknown>, reason: SaveReason, maxAge: MaxAge): Promise<boolean> {
    const store = this.store as SessionStore;
    const timeout = this.options.storeTimeout;
    if (this.#id === undefined) {
      this.#id = this.options.genid ? customId(this.ctx, this.options) : generateId();
      this.#storeKey = storeKeyFor(this.#id, this.options.prefix);
      this.#snapshot.forget();
    }
    const key = this.#storeKey as string;
    const written = await writeToStore({
      store,
      key,
      stored: withRawJson(stored, json),
      data,
      previousJson: this.#snapshot.json,
      previousData: this.#snapshot.data(),
      reason,
      ttl: typeof maxAge === "number" ? maxAge + STORE_GRACE_MS : maxAge,
      timeout,
      setOptions: { changed: reason === "changed", rolling: this.options.rolling, ctx: this.ctx },
    });
    if (!written) {
      debug("session %s was destroyed by another request; not written back", logTag(key));
      this.#session = null;
      this.#id = this.#storeKey = undefined;
      this.#clear();
      return false;
    }
    // Plain "touch" only refreshes server-side bookkeeping; the browser's cookie is unchanged.
    if (reason !== "touch" || this.#reissue) this.#writeIdCookie(this.#id as string, stored._expire);
    return true;
  }

  /** The koa-session session now lives in our format: its store entry and its `.sig` cookie go. */
  async #retireLegacy(): Promise<void> {
    const storeKey = this.#legacy?.storeKey;
    this.#legacy = undefined;
    const store = this.store;
    if (storeKey !== undefined && store) {
      await this.#destroyEntry(store, storeKey);
    }
    // With signed cookies the new `.sig` replaced it already; otherwise (cookie mode) it would linger.
    if (!this.options.signed && !this.options.externalKey) clearCompanionSignature(this.ctx, this.options);
  }

  /** Every destroy of this request shares its store-time budget (stores/deadline.ts). */
  #destroyEntry(store: SessionStore, key: string): Promise<unknown> {
    return spendStoreTime(this.ctx, "destroy", this.options.storeTimeout, (ms) => callStore("destroy", ms, () => store.destroy(key, { ctx: this.ctx }), { ctx: this.ctx, store }));
  }

  #writeIdCookie(id: string, expire: number | undefined): void {
    if (this.options.externalKey) {
      this.options.externalKey.set(this.ctx, id);
      return;
    }
    const signature = this.#signedId?.id === id ? this.#signedId.signature : undefined;
    writeCookie(this.ctx, this.options, id, { expires: expire === undefined ? undefined : new Date(expire) }, signature);
  }

  /** Resolves false when the old entry was already gone: a concurrent logout won, nothing is written. */
  async #regenerate(): Promise<boolean> {
    const oldKey = this.#storeKey;
    const existed = this.#snapshot.json !== undefined;
    this.#id = this.#storeKey = undefined;
    this.#snapshot.forget();
    const now = Date.now();
    this.#meta = { ...(this.#meta ?? {}), createdAt: now, lastSeenAt: now };
    if (oldKey === undefined || !this.store) return true;
    const store = this.store;
    const removed = await this.#destroyEntry(store, oldKey);
    if (existed && removed === false) {
      debug("session %s was destroyed by another request; regenerate() does not revive it", logTag(oldKey));
      this.#session = null;
      this.#clear();
      return false;
    }
    return true;
  }

  async #destroy(): Promise<void> {
    const key = this.#storeKey;
    this.#id = this.#storeKey = undefined;
    this.#snapshot.forget();
    if (key !== undefined && this.store) {
      const store = this.store;
      await this.#destroyEntry(store, key);
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
