/**
 * The per-request controller behind `ctx.session`: it keeps this request's session state, adopts what
 * the load phase found (load.ts), hands the model to the handler, and at commit decides what the save
 * phase must do; the transport (transport.ts: a store, or a sealed cookie) does it.
 *
 *   untouched        → no store write, no Set-Cookie
 *   changed          → merge (only changed keys) or set, then the cookie
 *   rolling / renew  → touch (no data rewrite), then the cookie
 *   destroyed        → store destroy, cookie expired; an in-flight merge can't bring it back
 */
import type { Context } from "koa";
import { debuglog } from "node:util";
import { logTag } from "../crypto/ids.js";
import { SessionConfigError } from "../errors.js";
import type { MaxAge, SessionMeta, SessionStore } from "../stores/contract.js";
import { isThenable } from "../stores/call.js";
import { rawJsonOf } from "../stores/json.js";
import { adoption, type Identity, type Loaded } from "./load.js";
import type { ResolvedOptions } from "./options.js";
import { sessionOptionsView, type SessionOptionsView } from "./request-options.js";
import type { Runtime } from "./runtime.js";
import { cookieExpires, OneWriteAtATime, saveInput, saveReason, settled, type Pending, type SaveInput, type SaveReason } from "./save.js";
import { Session, type SessionController } from "./session.js";
import { Snapshot } from "./snapshot.js";
import type { StoreTransport, Transport } from "./transport.js";
import type { CommitOptions, SessionControl } from "./types.js";

const debug = debuglog("koa-sessionkit:session");

/**
 * The per-request controller behind `ctx.session` (koa-session's ContextSession), reached with
 * {@link contextSession}. Exported as a type for koa-session parity; applications use `ctx.session`,
 * and auth uses the narrower {@link SessionControl}.
 */
export class ContextSession implements SessionController, SessionControl {
  /** The request this controller serves. */
  readonly ctx: Context;
  /** The middleware's options, resolved and validated once at start-up (shared by every request)… */
  #options: ResolvedOptions;
  readonly #transport: Transport;

  #session: Session | null | undefined;
  /** Store mode: the id this session lives under, once it has one. */
  #identity: Identity | undefined;
  #isNew = true;
  #meta: SessionMeta | undefined;
  #expire: number | undefined;
  #maxAge: MaxAge | undefined;
  readonly #snapshot = new Snapshot();
  #pending: Pending = settled();
  #sessionOptions: SessionOptionsView | undefined;
  readonly #writes = new OneWriteAtATime();
  #entered = false;
  /** Another request destroyed this session while this one was saving it (#lost). */
  #gone = false;

  constructor(ctx: Context, runtime: Runtime) {
    this.ctx = ctx;
    this.#options = runtime.options;
    this.#maxAge = runtime.options.maxAge;
    this.#transport = runtime.transportFor(ctx);
  }

  /** True until a stored or sealed session was loaded for this request. */
  get isNew(): boolean {
    return this.#isNew;
  }
  get store(): SessionStore | undefined {
    return this.#transport.store;
  }
  get storeKey(): string | undefined {
    return this.#identity?.storeKey;
  }
  /** The middleware's storeTimeout in ms. */
  get storeTimeout(): number {
    return this.options.storeTimeout;
  }
  /**
   * `ctx.session.externalKey`: in store mode a session has its id from the start, as in koa-session
   * (ours is made on first read here; a custom genid already ran when the session was created).
   */
  get externalKey(): string | undefined {
    const transport = this.#transport;
    if (this.#identity === undefined && transport.kind === "store" && this.#session) this.#identity = transport.newIdentity(this.ctx, false);
    return this.#identity?.storeKey;
  }
  /** This session's lifetime; set through `ctx.session.maxAge`, which also validates it. */
  get maxAge(): MaxAge | undefined {
    return this.#maxAge;
  }
  /** Change this session's lifetime (unvalidated; `ctx.session.maxAge = …` validates). */
  set maxAge(value: MaxAge | undefined) {
    this.#maxAge = value;
  }

  /** …or this request's own copy, once ctx.sessionOptions changed a cookie attribute (request-options.ts). */
  get options(): ResolvedOptions {
    return this.#options;
  }
  /** Use `next` for the rest of this request (ctx.sessionOptions changed a cookie attribute). */
  replaceOptions(next: ResolvedOptions): void {
    this.#options = next;
  }
  /** `ctx.sessionOptions`: this request's view, so a per-request change never leaks to others. */
  get sessionOptions(): SessionOptionsView {
    return (this.#sessionOptions ??= sessionOptionsView(this));
  }
  /**
   * Claim this request for one middleware run; false when an outer session() (the same app's, installed
   * twice) already runs it, so the inner one neither loads again nor commits twice.
   */
  enter(): boolean {
    if (this.#entered) return false;
    this.#entered = true;
    return true;
  }
  /** True once session() started on this request (auth() checks it is installed after session()). */
  get active(): boolean {
    return this.#entered;
  }
  /** Save at commit even if the data is unchanged. */
  requireSave(): void {
    this.#pending.force = true;
  }

  get meta(): Readonly<SessionMeta> | undefined {
    return this.#meta;
  }
  /** Change metadata; it is saved with the session at commit. */
  updateMeta(patch: Partial<SessionMeta>): void {
    this.#pending.metaChanged = true;
    this.#meta = { ...(this.#meta ?? { createdAt: Date.now() }), ...patch };
  }
  requestTouch(): void {
    this.#pending.touch = true;
  }
  useDefaultMaxAge(): void {
    this.#maxAge = this.options.maxAge;
  }
  /** Absolute expiry of this session in ms, if any. */
  get expiresAt(): number | undefined {
    return this.#expire;
  }

  // ---------------------------------------------------------------- load

  /**
   * Store mode: read the session before the handler runs (load.ts). Undefined when it is done
   * already (a synchronous store), else a promise: no promise on MemoryStore's path.
   */
  load(): Promise<void> | undefined {
    const transport = this.#transport;
    if (transport.kind !== "store") return undefined;
    // Whatever a middleware before this one put in ctx.session is dropped, as koa-session drops it:
    // the session is what the request's cookie names, or a new one.
    this.#session = undefined;
    return transport.load(this.ctx, this.#maxAge, (loaded) => this.#adopt(transport, loaded));
  }

  #adopt(transport: StoreTransport, loaded: Loaded): void {
    this.#take(loaded);
    // koa-session creates the id with the session, so a custom genid runs (and can record the id,
    // e.g. in ctx.state) before the handler.
    if (this.#session === undefined && this.options.genid) this.#identity = transport.newIdentity(this.ctx);
  }

  /** Adopt what the load phase found (the decisions are load.ts's `adoption`). */
  #take(loaded: Loaded): void {
    this.#pending.clearCookie = loaded.stale;
    const stored = loaded.stored;
    if (!stored) return;
    const taken = adoption(stored, loaded, this.#transport);
    if (taken.maxAge !== undefined) this.#maxAge = taken.maxAge;
    this.#meta = taken.meta;
    this.#expire = taken.expire;
    this.#isNew = false;
    this.#identity = loaded.identity;
    this.#pending.legacy = loaded.legacy;
    if (taken.force) this.#pending.force = true;
    if (taken.reissue) this.#pending.reissue = true;
    const session = new Session(this, stored);
    this.#session = session;
    if (taken.remember) this.#snapshot.remember(rawJsonOf(stored), session);
  }

  // ---------------------------------------------------------------- ctx.session

  /** `ctx.session`: the session (made on first use), or null after `ctx.session = null`. */
  get(): Session | null {
    if (this.#session === undefined) {
      const transport = this.#transport;
      if (transport.kind === "cookie") this.#take(transport.load(this.ctx));
      if (this.#session === undefined) this.#session = new Session(this);
    }
    return this.#session;
  }

  /** `ctx.session = value`: null destroys the session, an object replaces it (and ends any login on it). */
  set(value: unknown): void {
    if (value === null) {
      // Cookie mode opens the cookie first, as for an object below: a koa-session cookie the legacy
      // reader accepts must have its `.sig` companion cleared with it.
      if (this.#session === undefined && this.#transport.kind === "cookie") this.get();
      this.#session = null;
      return;
    }
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new SessionConfigError(`ctx.session can only be set to null or an object, got ${typeof value}`, "ERR_SESSIONKIT_MISUSE");
    }
    if (this.#session === undefined && this.#transport.kind === "cookie") this.get();
    const session = new Session(this, value as Record<string, unknown>);
    this.#session = session;
    // koa-session assigns every key, so `ctx.session = { maxAge }` goes through the maxAge setter:
    // the new lifetime is validated and the session saved with it.
    if (Object.prototype.hasOwnProperty.call(value, "maxAge")) session.maxAge = (value as { maxAge?: MaxAge }).maxAge;
    // Replacing the whole session also ends any login on it: apps that "log out" with
    // `ctx.session = {}` must not stay authenticated through the metadata.
    if (this.#meta?.userId !== undefined) {
      const { userId: _userId, role: _role, authAt: _authAt, absoluteExpiresAt: _absolute, ...rest } = this.#meta;
      this.#meta = rest;
      this.#pending.metaChanged = true;
    }
  }

  // ---------------------------------------------------------------- commit

  /** Write what this request changed (the middleware calls it after the handler unless autoCommit is false). */
  commit(options: CommitOptions = {}): Promise<void> {
    let result: Promise<void>;
    try {
      result = this.commitNow(options) ?? Promise.resolve();
    } catch (err) {
      result = Promise.reject(err);
    }
    // A save() or manuallyCommit() the handler does not await must not crash the process with an
    // unhandled rejection (koa-session's did): the promise still rejects for code that awaits it. With
    // autoCommit the middleware's own commit writes again and answers with the error; without it, a
    // store failure is still its store.error audit event.
    result.catch((err: unknown) => debug("a commit nobody awaited failed: %s", (err as Error)?.message));
    return result;
  }

  /**
   * {@link commit} for the middleware: undefined when it finished synchronously (nothing to write, or
   * only a cookie to send), else a promise. May throw synchronously.
   */
  commitNow(options: CommitOptions = {}): Promise<void> | undefined {
    // Checked without a closure: most requests are reads and commit nothing.
    const inFlight = this.#writes.current;
    if (inFlight) return inFlight.then(() => this.commitNow(options));
    const writing = this.#commitOnce(options);
    return writing && this.#writes.track(writing);
  }

  #commitOnce(options: CommitOptions): Promise<void> | undefined {
    // Destroyed by another request while this one saved: nothing more is written (see #lost), unless
    // the session was replaced whole since (a login): it revives nothing of the destroyed one.
    if (this.#gone && !options.replaced) return undefined;
    this.#gone = false;
    const session = this.#session;
    if (session === undefined) {
      if (this.#pending.clearCookie) this.#clear(false);
      return undefined;
    }
    if (session === null) return this.#destroy();
    if (options.regenerate) return this.#regenerateThenSave(session, options);
    return this.#commitSession(session, options);
  }

  async #regenerateThenSave(session: Session, options: CommitOptions): Promise<void> {
    if (await this.#regenerate(options.replaced === true)) await this.#commitSession(session, options);
  }

  #commitSession(session: Session, options: CommitOptions): Promise<void> | undefined {
    const reason: SaveReason = options.save || options.regenerate || this.#pending.force ? "force" : saveReason(session, this.#snapshot, this.options, this.#pending, this.#expire, this.#maxAge, this.#meta);
    debug("commit: %s", reason || "nothing to save");
    if (!reason && !this.#pending.legacy) {
      const identity = this.#identity;
      if (this.#pending.reissue && identity && this.#transport.kind === "store") this.#transport.reissue(this.ctx, identity, cookieExpires(this.#expire, this.#maxAge), this.#options);
      else if (this.#pending.clearCookie) this.#clear(false);
      return undefined;
    }
    this.options.beforeSave?.(this.ctx, session);
    return this.#save(session, reason);
  }

  /** Undefined when it finished synchronously (a synchronous store, or cookie mode), else a promise. */
  #save(session: Session, reason: SaveReason): Promise<void> | undefined {
    const now = Date.now();
    this.#meta = { ...(this.#meta ?? { createdAt: now }), lastSeenAt: now };
    const input = saveInput(session, { reason, now, maxAge: this.#maxAge, meta: this.#meta, snapshot: this.#snapshot, pending: this.#pending, options: this.#options });
    const transport = this.#transport;
    // False: a koa-session cookie kept as it is (see CookieTransport.save).
    if (transport.kind === "cookie") return transport.save(this.ctx, input) ? this.#saved(input) : undefined;
    const saved = transport.save(this.ctx, input, this.#identity);
    return isThenable(saved) ? Promise.resolve(saved).then((identity) => this.#saved(input, identity)) : this.#saved(input, saved);
  }

  /** Once written. A null identity: another request destroyed the session meanwhile (store mode). */
  #saved(input: SaveInput, identity?: Identity | null): Promise<void> | undefined {
    if (identity === null) return this.#lost(this.#identity, "not written back");
    if (identity) this.#identity = identity;
    const legacy = this.#pending.legacy;
    if (legacy) return this.#transport.retire(this.ctx, legacy.storeKey, this.#options).then(() => this.#written(input));
    this.#written(input);
    return undefined;
  }

  /**
   * Another request destroyed the session meanwhile (a logout won): its cookie is cleared and nothing
   * more is written for this request. `ctx.session` stays the handler's object, so code after a save
   * (`ctx.session.b = 2`) runs on, as it did when the save finished later, only unsaved.
   */
  #lost(identity: Identity | undefined, doing: string): undefined {
    debug("session %s was destroyed by another request; %s", logTag(identity?.storeKey ?? ""), doing);
    this.#gone = true;
    this.#identity = undefined;
    this.#clear(false);
    return undefined;
  }

  /** Written: everything owed is done (the one place pending work is reset). */
  #written(input: SaveInput): void {
    // The data as written, not the session as it is now: a handler may have changed it meanwhile.
    this.#snapshot.remember(input.json, input.data);
    this.#expire = input.expire;
    this.#pending = settled();
  }

  /**
   * False when the old entry was already gone (a concurrent logout won: nothing is written), unless
   * the session was `replaced` whole (a login, e.g. the second of a double-submitted form): it carries nothing over.
   */
  async #regenerate(replaced: boolean): Promise<boolean> {
    const old = this.#identity;
    const existed = this.#snapshot.json !== undefined;
    this.#identity = undefined;
    this.#snapshot.forget();
    const now = Date.now();
    this.#meta = { ...(this.#meta ?? {}), createdAt: now, lastSeenAt: now };
    // An id that was never stored (a new session's) has nothing to destroy.
    if (!existed) return true;
    const removed = await this.#transport.destroy(this.ctx, old);
    if (removed !== false || replaced) return true;
    this.#lost(old, "regenerate() does not revive it");
    return false;
  }

  async #destroy(): Promise<void> {
    const old = this.#identity;
    const legacy = this.#pending.legacy;
    this.#identity = undefined;
    this.#snapshot.forget();
    await this.#transport.destroy(this.ctx, old);
    // A koa-session session ended on the request that brought it: its entry goes too, or the old
    // cookie would log the user back in after the logout.
    if (legacy) await this.#transport.retire(this.ctx, legacy.storeKey, this.#options);
    this.#clear(true);
    this.#pending.legacy = undefined;
  }

  /** Expire the client's cookie (or, for an externalKey session that was destroyed, its key). */
  #clear(destroyed: boolean): void {
    this.#transport.clear(this.ctx, destroyed, this.#options);
    this.#pending.clearCookie = false;
  }
}
