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

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SessionData {}

export type SameSite = "strict" | "lax" | "none" | boolean;

export interface ExternalKeyAccessor {
  /** Read the session id from the request (for example a header). */
  get(ctx: Context): string | undefined | null;
  /** Send the session id to the client. */
  set(ctx: Context, value: string): void;
}

export interface SessionOptions {
  /** Cookie name. Default "koa.sess". */
  key?: string;
  /**
   * Lifetime in ms, or "session" for a browser-session cookie. Not set: as in koa-session, the cookie
   * is a browser-session cookie (no Expires) and the session itself ends after one day.
   */
  maxAge?: MaxAge;
  /** Commit at the end of every request. Default true. */
  autoCommit?: boolean;
  /** Replace earlier Set-Cookie headers of the same name. Default true. */
  overwrite?: boolean;
  /** Default true. */
  httpOnly?: boolean;
  /** Sign the cookie (HMAC-SHA256 with app.keys). Default true. */
  signed?: boolean;
  /** Re-send the cookie (and extend the store entry) on every request. Default false. */
  rolling?: boolean;
  /** Re-send the cookie when less than half of maxAge remains. Default false. */
  renew?: boolean;
  /** Default: true when the request is HTTPS (honouring app.proxy). An explicit true always marks it Secure. */
  secure?: boolean;
  /**
   * Default "lax". Any casing is accepted, and `string` is in the type because koa-session typed it
   * so; anything but strict/lax/none/true/false is refused at start-up. `null` means the default.
   */
  sameSite?: SameSite | (string & Record<never, never>) | null;
  /** Default "/". */
  path?: string;
  domain?: string;
  /** "store" (default): the cookie holds an id. "cookie": the whole session, sealed with AES-256-GCM. */
  mode?: "store" | "cookie";
  /** Where sessions live in store mode. Default: a bounded in-process MemoryStore. */
  store?: SessionStore;
  /** A store made per request: `new ContextStore(ctx)`. */
  ContextStore?: new (ctx: Context) => SessionStore;
  /** Read/write the session id somewhere other than the cookie. */
  externalKey?: ExternalKeyAccessor;
  /** Cookie mode: turn the session into text before sealing. Default JSON.stringify. */
  encode?: (session: StoredSession) => string;
  /** Cookie mode: the inverse of encode. Default a prototype-safe JSON.parse. */
  decode?: (text: string) => StoredSession;
  /** Make a new session id. Default 32 random bytes, base64url. Must be unguessable. */
  genid?: (ctx: Context) => string;
  /** Prepended to every store key. */
  prefix?: string;
  /** Reject a loaded session: return false and the request gets a fresh one (emits session:invalid). */
  valid?: (ctx: Context, session: StoredSession) => boolean;
  /** Called just before a session is saved. */
  beforeSave?: (ctx: Context, session: KoaSession) => void;
  /** Store calls that take longer fail with StoreUnavailableError (503). Default 3000 ms. */
  storeTimeout?: number;
  /** Accept, once, sessions written by koa-session 7 and re-issue them in koa-sessionkit's format. */
  legacy?: "koa-session";
  /**
   * With `legacy`: extra keys that only verify koa-session's (HMAC-SHA1) cookie signatures, for
   * old app.keys shorter than the 32 bytes koa-sessionkit requires. Never used to sign anything.
   */
  legacyKeys?: readonly KeyInput[];
  /** Keys to use instead of app.keys. */
  keys?: readonly KeyInput[] | Keyring;
  /**
   * Receives the app's audit events (logins, lockouts, forged cookies, store errors; see
   * `AuditEvent`). Never slows or breaks a request: it runs later, and its errors are caught.
   */
  onEvent?: AuditListener;
}

/** What `ctx.session` is, apart from your own fields. */
export interface SessionModel {
  readonly isNew: boolean;
  readonly populated: boolean;
  readonly length: number;
  maxAge: MaxAge | undefined;
  /** The store key of this session (a hash of the id, safe to log and to pass to store methods). */
  readonly externalKey: string | undefined;
  save(callback?: (err?: unknown) => void): Promise<void> | undefined;
  regenerate(callback?: (err?: unknown) => void): Promise<void> | undefined;
  manuallyCommit(): Promise<void>;
  toJSON(): Record<string, unknown>;
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

export interface SessionEvent {
  key: string | undefined;
  value: StoredSession | null | undefined;
  ctx: Context;
}

/** What `koa-sessionkit/auth` needs from a request's session, and nothing more. */
export interface SessionControl {
  get(): KoaSession | null;
  set(value: unknown): void;
  /** Library metadata (`_sk`); change it with updateMeta. */
  readonly meta: Readonly<SessionMeta> | undefined;
  updateMeta(patch: Partial<SessionMeta>): void;
  /** Persist lastSeenAt (and extend the entry) without rewriting data. */
  requestTouch(): void;
  commit(options?: { save?: boolean; regenerate?: boolean }): Promise<void>;
  /** This request's store; undefined in cookie mode. */
  readonly store: SessionStore | undefined;
  /** The store key of this session, once it has one. */
  readonly storeKey: string | undefined;
  readonly storeTimeout: number;
}
