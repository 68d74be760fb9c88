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
import type { Keyring, KeyInput } from "../crypto/keyring.js";
import type { AuditListener } from "../events.js";
import type { MaxAge, SessionMeta, SessionStore, StoredSession } from "../stores/contract.js";

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

/**
 * Options of {@link session}: koa-session 7's, with the same names and defaults, plus `keys`,
 * `storeTimeout`, `legacy`, `legacyKeys` and `onEvent`.
 *
 * @example
 * app.use(session({
 *   key: "__Host-sid",
 *   maxAge: 7 * 86_400_000,
 *   sameSite: "lax",
 *   store: new RedisStore({ url: process.env.REDIS_URL }),
 *   onEvent: (event) => logger.info(event),
 * }, app));
 */
export interface SessionOptions {
  /** Cookie name. Default "koa.sess". */
  key?: string | undefined;
  /**
   * Lifetime in ms, or "session" for a browser-session cookie. Not set: as in koa-session, the cookie
   * is a browser-session cookie (no Expires) and the session itself ends after one day.
   */
  maxAge?: MaxAge | undefined;
  /** Commit at the end of every request. Default true. */
  autoCommit?: boolean | undefined;
  /** Replace earlier Set-Cookie headers of the same name. Default true. */
  overwrite?: boolean | undefined;
  /** Hide the cookie from page scripts (HttpOnly). Default true. */
  httpOnly?: boolean | undefined;
  /** Sign the cookie (HMAC-SHA256 with app.keys). Default true. */
  signed?: boolean | undefined;
  /** Re-send the cookie (and extend the store entry) on every request. Default false. */
  rolling?: boolean | undefined;
  /** Re-send the cookie when less than half of maxAge remains. Default false. */
  renew?: boolean | undefined;
  /** Default: true when the request is HTTPS (honouring app.proxy). An explicit true always marks it Secure. */
  secure?: boolean | undefined;
  /**
   * Default "lax". Any casing is accepted, and `string` is in the type because koa-session typed it
   * so; anything but strict/lax/none/true/false is refused at start-up. `null` means the default.
   */
  sameSite?: SameSite | (string & Record<never, never>) | null | undefined;
  /** The cookie's Path. Default "/". */
  path?: string | undefined;
  /** The cookie's Domain. Default: none (host-only, required for a `__Host-` cookie name). */
  domain?: string | undefined;
  /** The cookie's Priority attribute (Chrome): "low", "medium" or "high". Default: not sent. */
  priority?: CookiePriority | (string & Record<never, never>) | undefined;
  /** Partitioned (CHIPS): the cookie is kept per top-level site, for an app embedded in others' pages. Implies Secure. Default false. */
  partitioned?: boolean | undefined;
  /** "store" (default): the cookie holds an id. "cookie": the whole session, sealed with AES-256-GCM. */
  mode?: "store" | "cookie" | undefined;
  /** Where sessions live in store mode. Default: a bounded in-process MemoryStore. */
  store?: SessionStore | undefined;
  /** koa-session's per-request store: a class constructed as `new ContextStore(ctx)` for each request. */
  ContextStore?: {
    /** Make the store that serves this request. */
    new (ctx: Context): SessionStore;
  };
  /** Read/write the session id somewhere other than the cookie. */
  externalKey?: ExternalKeyAccessor | undefined;
  /** Cookie mode: turn the session into text before sealing. Default JSON.stringify. */
  encode?: ((session: StoredSession) => string) | undefined;
  /** Cookie mode: the inverse of encode. Default a prototype-safe JSON.parse. */
  decode?: ((text: string) => StoredSession) | undefined;
  /** Make a new session id. Default 32 random bytes, base64url. Must be unguessable. */
  genid?: ((ctx: Context) => string) | undefined;
  /** Prepended to every store key. */
  prefix?: string | undefined;
  /** Reject a loaded session: return false and the request gets a fresh one (emits session:invalid). */
  valid?: ((ctx: Context, session: StoredSession) => boolean) | undefined;
  /** Called just before a session is saved. */
  beforeSave?: ((ctx: Context, session: KoaSession) => void) | undefined;
  /** Store calls that take longer fail with StoreUnavailableError (503). Default 3000 ms. */
  storeTimeout?: number | undefined;
  /** Accept, once, sessions written by koa-session 7 and re-issue them in koa-sessionkit's format. */
  legacy?: "koa-session" | undefined;
  /**
   * With `legacy`: extra keys that only verify koa-session's (HMAC-SHA1) cookie signatures, for
   * old app.keys shorter than the 32 bytes koa-sessionkit requires. Never used to sign anything.
   */
  legacyKeys?: readonly KeyInput[] | undefined;
  /** Keys to use instead of app.keys. */
  keys?: readonly KeyInput[] | Keyring | undefined;
  /**
   * Receives the app's audit events (logins, lockouts, forged cookies, store errors; see
   * `AuditEvent`). Never slows or breaks a request: it runs later, and its errors are caught.
   */
  onEvent?: AuditListener | undefined;
}

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
  /** The store key (a hash of the id) when there is one; never the cookie value. */
  key: string | undefined;
  /** The stored session that was rejected, when one was read. */
  value: StoredSession | null | undefined;
  /** The request. */
  ctx: Context;
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
  /** Write what this request changed now; `save` forces a write, `regenerate` moves it to a new id. */
  commit(options?: { save?: boolean; regenerate?: boolean }): Promise<void>;
  /** This request's store; undefined in cookie mode. */
  readonly store: SessionStore | undefined;
  /** The store key of this session, once it has one. */
  readonly storeKey: string | undefined;
  /** The middleware's storeTimeout in ms, for auth's own store calls. */
  readonly storeTimeout: number;
}
