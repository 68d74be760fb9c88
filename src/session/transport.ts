/**
 * The two ways a session travels, behind one surface (load / save / destroy / clear), chosen once in
 * `session()`:
 *
 *   StoreTransport   an id cookie (or externalKey) + a store; loads before the handler
 *   CookieTransport  the whole session sealed into the cookie; opens on first access
 *
 * Each holds what it needs as a required field (a store, a sealer), so the compiler, not a cast,
 * proves it is there. The controller (context-session.ts) keeps the state and decides what to do;
 * the transport does it.
 */
import type { Context } from "koa";
import { debuglog } from "node:util";
import { generateId, storeKeyFor } from "../crypto/ids.js";
import type { Sealer } from "../crypto/seal.js";
import { isThenable, storeCall } from "../stores/call.js";
import type { MaxAge, SessionStore } from "../stores/contract.js";
import { clearCompanionSignature, clearCookie, COOKIE_LIMIT_BYTES, cookieBytes, writeCookie, writeSealedCookie } from "./cookies.js";
import { emit, loadFromCookie, loadFromStore, type Identity, type Loaded } from "./load.js";
import { ONE_DAY_MS, type ResolvedOptions } from "./options.js";
import type { SharedState } from "./runtime.js";
import { customId, writeToStore, type SaveInput } from "./save.js";

const debug = debuglog("koa-sessionkit:session");

/** The store entry outlives the cookie by 10 s so a cookie never points at a row that just vanished. */
const STORE_GRACE_MS = 10_000;

export class StoreTransport {
  readonly kind = "store";
  /** An id cookie is re-signed under the first key; the data is not rewritten. */
  readonly reissueBySaving = false;
  readonly store: SessionStore;
  readonly #runtime: SharedState;
  readonly #options: ResolvedOptions;

  constructor(runtime: SharedState, store: SessionStore) {
    this.#runtime = runtime;
    this.#options = runtime.options;
    this.store = store;
  }

  /** Hands what was found to `adopt`; a promise only while the store is being waited on. */
  load(ctx: Context, maxAge: MaxAge | undefined, adopt: (loaded: Loaded) => void): Promise<void> | undefined {
    return loadFromStore(ctx, this.#runtime, this.store, maxAge, adopt);
  }

  /** A new session's id: the app's genid, or 256 random bits. */
  newIdentity(ctx: Context, custom = this.#options.genid !== undefined): Identity {
    const id = custom ? customId(ctx, this.#options) : generateId();
    return { id, storeKey: storeKeyFor(id, this.#options.prefix) };
  }

  /**
   * Write the session, then send the id; null when another request destroyed it meanwhile.
   * Synchronous when the store answers synchronously.
   */
  save(ctx: Context, input: SaveInput, identity: Identity | undefined): Identity | null | Promise<Identity | null> {
    const current = identity ?? this.newIdentity(ctx);
    const { maxAge } = input;
    const written = writeToStore(this.store, current.storeKey, input, {
      ttl: typeof maxAge === "number" ? maxAge + STORE_GRACE_MS : maxAge,
      timeout: this.#options.storeTimeout,
      setOptions: { changed: input.reason === "changed", rolling: input.options.rolling, ctx },
    });
    if (isThenable(written)) return Promise.resolve(written).then((ok) => this.#sent(ctx, input, current, ok));
    return this.#sent(ctx, input, current, written);
  }

  /** After the write: the id goes to the client unless the entry was destroyed meanwhile. */
  #sent(ctx: Context, input: SaveInput, current: Identity, written: boolean): Identity | null {
    if (!written) return null;
    // Plain "touch" only refreshes server-side bookkeeping; the browser's cookie is unchanged.
    if (input.reason !== "touch" || input.reissue) this.reissue(ctx, current, input.cookieExpires, input.options);
    return current;
  }

  /** Send the id again (signed under the first key), with this request's cookie attributes. */
  reissue(ctx: Context, identity: Identity, expires: Date | undefined, options: ResolvedOptions): void {
    if (options.externalKey) options.externalKey.set(ctx, identity.id);
    else writeCookie(ctx, options, identity.id, { expires }, identity.signature);
  }

  /** Remove the entry; resolves false when the store says there was none. */
  destroy(ctx: Context, identity: Identity | undefined): Promise<unknown> {
    if (!identity) return Promise.resolve(undefined);
    return this.#destroyEntry(ctx, identity.storeKey);
  }

  /** Every destroy of this request shares its store-time budget (stores/deadline.ts). */
  #destroyEntry(ctx: Context, key: string): Promise<unknown> {
    const store = this.store;
    // Promise.resolve hands an asynchronous store's promise back as is.
    return Promise.resolve(storeCall(ctx, "destroy", this.#options.storeTimeout, () => store.destroy(key, { ctx }), store));
  }

  /** Tell the client the session is gone. */
  clear(ctx: Context, destroyed: boolean, options: ResolvedOptions): void {
    if (!options.externalKey) clearCookie(ctx, options);
    else if (destroyed) options.externalKey.set(ctx, "");
  }

  /** The koa-session session now lives in our format: its entry (and a stray `.sig`) go. */
  async retire(ctx: Context, legacyStoreKey: string | undefined, options: ResolvedOptions): Promise<void> {
    if (legacyStoreKey !== undefined) await this.#destroyEntry(ctx, legacyStoreKey);
    if (!options.signed && !options.externalKey) clearCompanionSignature(ctx, options);
  }
}

export class CookieTransport {
  readonly kind = "cookie";
  /** A sealed cookie has no id to re-sign: re-sealing under the first key is a save. */
  readonly reissueBySaving = true;
  readonly store = undefined;
  readonly #runtime: SharedState;
  readonly #sealer: Sealer;

  constructor(runtime: SharedState, sealer: Sealer) {
    this.#runtime = runtime;
    this.#sealer = sealer;
  }

  /** Synchronous: cookie mode opens the cookie on first access to ctx.session. */
  load(ctx: Context): Loaded {
    return loadFromCookie(ctx, this.#runtime, this.#sealer);
  }

  /** False when a koa-session cookie is kept as it is instead (nothing sent). Synchronous: no I/O. */
  save(ctx: Context, input: SaveInput): boolean {
    const options = input.options;
    const payload = options.encode ? options.encode(input.stored) : input.json;
    const token = this.#sealer.seal(payload, options.key, input.now, input.expire ?? input.now + ONE_DAY_MS);
    const lifetime = { expires: input.cookieExpires };
    if (input.legacyUnchanged && cookieBytes(ctx, options, token, lifetime) > COOKIE_LIMIT_BYTES) {
      // A koa-session cookie near 4 KB re-seals larger than a browser keeps. The handler changed
      // nothing, so the browser's koa-session cookie still holds exactly this session: keep it
      // (no Set-Cookie) rather than fail a read; a change that is too large fails as any would.
      debug("koa-session cookie kept: re-sealed it would pass %d bytes", COOKIE_LIMIT_BYTES);
      emit(ctx, "legacy-kept", { key: undefined, value: input.stored, ctx });
      return false;
    }
    writeSealedCookie(ctx, options, token, lifetime);
    return true;
  }

  /** No server state: the sealed cookie is the session. */
  destroy(): Promise<unknown> {
    return Promise.resolve(undefined);
  }

  clear(ctx: Context, _destroyed: boolean, options: ResolvedOptions): void {
    clearCookie(ctx, options);
  }

  async retire(ctx: Context, _legacyStoreKey: string | undefined, options: ResolvedOptions): Promise<void> {
    clearCompanionSignature(ctx, options);
  }
}

export type Transport = StoreTransport | CookieTransport;
