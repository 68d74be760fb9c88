/**
 * Public types of the session middleware. `SessionData` is empty on purpose: extend it by declaration
 * merging to type your own fields.
 *
 * @example
 * declare module "koa-sessionkit" {
 *   interface SessionData { views?: number; userId?: string }
 * }
 */
import type { Context } from "koa";
import type { MaxAge, SessionMeta, SessionStore, StoredSession } from "../stores/contract.js";
import type { SessionOptions } from "./options-schema.js";

// Declared beside its runtime value (`SessionOptions.parse`), one name for both as in koa-session 7;
// re-exported here for the modules that import their types from this file.
export type { SessionOptions };

/**
 * Your own session fields, empty until you declare them: `ctx.session.views` is then typed.
 *
 * @example
 * declare module "koa-sessionkit" {
 *   interface SessionData { views?: number; cart?: string[] }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SessionData {}

/** The cookie's SameSite attribute; `true` means "strict", `false` leaves the attribute out. */
export type SameSite = "strict" | "lax" | "none" | boolean;

/**
 * koa-session's `externalKey`: carry the session id somewhere other than the cookie (a header for a
 * native app, say). The id is then neither signed nor sealed, so it must stay unguessable.
 *
 * @example
 * session({
 *   externalKey: {
 *     get: (ctx) => ctx.get("x-session-id"),
 *     set: (ctx, value) => ctx.set("x-session-id", value),
 *   },
 * }, app);
 */
export interface ExternalKeyAccessor {
  /** Read the session id from the request (for example a header). */
  get(ctx: Context): string | undefined | null;
  /** Send the session id to the client. */
  set(ctx: Context, value: string): void;
}

/** A cookie's Priority attribute, as Koa's cookies module sends it. */
export type CookiePriority = "low" | "medium" | "high";

/** What `ctx.session` is, apart from your own fields. */
export interface SessionModel {
  /** True when this request started the session (no valid cookie came in). */
  readonly isNew: boolean;
  /** True when the session holds at least one field of yours. */
  readonly populated: boolean;
  /** How many fields of yours the session holds. */
  readonly length: number;
  /**
   * This session's lifetime (ms or "session"). Setting it validates the value and saves the session
   * with the new lifetime at commit ("remember me").
   *
   * @example
   * if (ctx.request.body.remember) ctx.session.maxAge = 30 * 86_400_000;
   */
  maxAge: MaxAge | undefined;
  /** The store key of this session (a hash of the id, safe to log and to pass to store methods). */
  readonly externalKey: string | undefined;
  /** Save now, even if nothing changed. */
  save(): Promise<void>;
  /** koa-session's callback style: the callback gets the error, if any; returns undefined. */
  save(callback: (err?: unknown) => void): undefined;
  /**
   * Move the session to a new id, keeping its data; the old entry is destroyed. Do it whenever
   * privilege changes (auth's login() does it for you).
   */
  regenerate(): Promise<void>;
  /** koa-session's callback style: the callback gets the error, if any; returns undefined. */
  regenerate(callback: (err?: unknown) => void): undefined;
  /** Commit now; for `autoCommit: false`. */
  manuallyCommit(): Promise<void>;
  /** Your fields as a plain object, without the API or the reserved fields (typed like `ctx.session`'s). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as ctx.session's own fields, see KoaSession
  toJSON(): SessionData & Record<string, any>;
}

/**
 * `ctx.session`: the API above, your `SessionData` fields as declared, and any other field as `any`.
 * The `any` is deliberate: koa-session declares no type for `ctx.session`, so Koa's `any` is what
 * koa-session apps were written against (`ctx.session.views++`); narrower, they would not compile.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KoaSession = SessionModel & SessionData & Record<string, any>;

/** koa-session's name for the options argument, so `import type { CreateSessionOptions }` keeps compiling. */
export type CreateSessionOptions = SessionOptions;

/**
 * The payload of koa-session's app events, `session:missed`, `session:expired`, `session:invalid`
 * (and `session:legacy-kept`), emitted on the app after the request has moved on.
 *
 * @example
 * app.on("session:expired", ({ key, ctx }) => log.info({ key, path: ctx.path }, "session expired"));
 */
export interface SessionEvent {
  /**
   * The store key that was read (`prefix + sha256(id)`). Undefined when no store key was read: in
   * cookie mode, for `session:legacy-kept`, and for a `session:missed` whose cookie or external key
   * was not shaped like an id (not looked up). With `legacy`, a koa-session entry's key, which is
   * koa-session's raw id.
   */
  key: string | undefined;
  /** The stored session that was rejected, when one was read. */
  value: StoredSession | null | undefined;
  /** The request. */
  ctx: Context;
}

/** How a commit writes: what `ctx.session.save()` / `regenerate()` and auth's login ask for. */
export interface CommitOptions {
  /** Write even if nothing changed. */
  save?: boolean;
  /** Move the session to a new id; the old entry is destroyed first. */
  regenerate?: boolean;
  /**
   * With `regenerate`: the session was replaced whole (data and metadata, as login does), so it is
   * written under its new id even when another request destroyed the old entry meanwhile. Without
   * it a regenerate after a concurrent logout writes nothing, because it would carry the logged-out
   * data over.
   */
  replaced?: boolean;
}

/** What `koa-sessionkit/auth` needs from a request's session, and nothing more. */
export interface SessionControl {
  /** `ctx.session`: the session (made on first use), or null after `ctx.session = null`. */
  get(): KoaSession | null;
  /** `ctx.session = value`: null destroys the session, an object replaces it (and ends any login on it). */
  set(value: unknown): void;
  /** Library metadata (`_sk`); change it with updateMeta. */
  readonly meta: Readonly<SessionMeta> | undefined;
  /** Change metadata; it is saved with the session at commit. */
  updateMeta(patch: Partial<SessionMeta>): void;
  /** Persist lastSeenAt (and extend the entry) without rewriting data. */
  requestTouch(): void;
  /** True once session() started on this request (a middleware before it sees no session yet). */
  readonly active: boolean;
  /** Give this session the session() option's maxAge again, dropping a per-session one. */
  useDefaultMaxAge(): void;
  /** Write what this request changed now (see {@link CommitOptions}). */
  commit(options?: CommitOptions): Promise<void>;
  /** This request's store; undefined in cookie mode. */
  readonly store: SessionStore | undefined;
  /** The store key of this session, once it has one. */
  readonly storeKey: string | undefined;
  /** The middleware's storeTimeout in ms, for auth's own store calls. */
  readonly storeTimeout: number;
}
