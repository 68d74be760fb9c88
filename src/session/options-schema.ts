/**
 * The options of `session()`, as a type and as a runtime value, under one name as in koa-session 7,
 * which exports `SessionOptions` as a zod schema beside its type. `SessionOptions.parse(input)` checks
 * options exactly as `session()` does at start-up (options.ts: checkOptions), except whether app.keys
 * is set, and returns them with koa-session's defaults filled in; `safeParse` reports instead of
 * throwing. No zod here: a refusal is the same SessionConfigError that session() would throw.
 *
 * @example
 * import session, { SessionOptions } from "koa-sessionkit";
 * const options = SessionOptions.parse(config.session); // throws SessionConfigError, before any traffic
 * app.use(session(options, app));
 */
import type { Context } from "koa";
import type { Keyring, KeyInput } from "../crypto/keyring.js";
import { SessionConfigError } from "../errors.js";
import type { AuditListener } from "../events.js";
import type { MaxAge, SessionStore, StoredSession } from "../stores/contract.js";
import { checkOptions, keyringFor } from "./options.js";
import type { CookiePriority, ExternalKeyAccessor, KoaSession, SameSite } from "./types.js";

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

/**
 * What {@link SessionOptions.parse} returns: the options given (unknown names dropped, as zod drops
 * them), with the defaults koa-session 7's `SessionOptions.parse` fills in.
 */
export type ParsedSessionOptions = SessionOptions & {
  /** Default "koa.sess". */
  key: string;
  /** Default true. */
  autoCommit: boolean;
  /** Default true. */
  overwrite: boolean;
  /** Default true. */
  httpOnly: boolean;
  /** Default true. */
  signed: boolean;
  /** Default false. */
  rolling: boolean;
  /** Default false. */
  renew: boolean;
};

/** What {@link SessionOptions.safeParse} returns, in zod's shape. */
export type SessionOptionsParseResult =
  | {
      /** The options are valid. */
      success: true;
      /** What parse would have returned. */
      data: ParsedSessionOptions;
      /** Never set on success. */
      error?: never;
    }
  | {
      /** The options were refused. */
      success: false;
      /** What parse would have thrown: the option, the cause and the fix, code `ERR_SESSIONKIT_CONFIG`. */
      error: SessionConfigError;
      /** Never set on failure. */
      data?: never;
    };

/** The runtime `SessionOptions`: koa-session 7's schema methods, with koa-sessionkit's rules. */
export interface SessionOptionsSchema {
  /**
   * Check options as `session()` does at start-up (every option; the keys only when the `keys`
   * option is given, since app.keys is not known here) and return a new object: the options given,
   * `maxage` under its current name `maxAge`, and koa-session's defaults for `key`, `autoCommit`,
   * `overwrite`, `httpOnly`, `signed`, `rolling` and `renew`. koa-session's default `encode`/`decode`
   * (its readable base64 cookie format) are not added: koa-sessionkit has no such format, and
   * `session()` refuses `encode`/`decode` without `mode: "cookie"`. The input is not changed.
   *
   * @throws SessionConfigError (code `ERR_SESSIONKIT_CONFIG`) naming the option and the fix, the
   * same error `session()` throws for those options.
   *
   * @example
   * SessionOptions.parse({}); // { key: "koa.sess", autoCommit: true, overwrite: true, httpOnly: true, signed: true, rolling: false, renew: false }
   */
  parse(input: unknown): ParsedSessionOptions;
  /**
   * {@link SessionOptionsSchema.parse} without throwing: `{ success: true, data }`, or
   * `{ success: false, error }` with the SessionConfigError that parse would throw.
   *
   * @example
   * const result = SessionOptions.safeParse(config.session);
   * if (!result.success) console.error(result.error.code, result.error.message);
   */
  safeParse(input: unknown): SessionOptionsParseResult;
}

/**
 * Every option name, checked against the interface by the compiler (a name added to SessionOptions
 * and missing here fails to compile), so parse never drops an option session() would use.
 */
const OPTION_NAMES = Object.keys({
  key: 1, maxAge: 1, autoCommit: 1, overwrite: 1, httpOnly: 1, signed: 1, rolling: 1, renew: 1, secure: 1,
  sameSite: 1, path: 1, domain: 1, priority: 1, partitioned: 1, mode: 1, store: 1, ContextStore: 1,
  externalKey: 1, encode: 1, decode: 1, genid: 1, prefix: 1, valid: 1, beforeSave: 1, storeTimeout: 1,
  legacy: 1, legacyKeys: 1, keys: 1, onEvent: 1,
} satisfies Record<keyof SessionOptions, 1>) as (keyof SessionOptions)[];

/** One option from the input, when given; generic so the compiler checks the value's type per name. */
function copyOption<K extends keyof SessionOptions>(from: SessionOptions, to: SessionOptions, name: K): void {
  if (from[name] !== undefined) to[name] = from[name];
}

function parse(input: unknown): ParsedSessionOptions {
  const checked = checkOptions(input);
  const given = input as SessionOptions;
  // Keys given as an option are checked as session() checks them; app.keys can't be, it is the app's.
  if (given.keys !== undefined) keyringFor(checked, given, given.keys);
  const data: ParsedSessionOptions = {
    key: checked.key,
    autoCommit: checked.autoCommit,
    overwrite: checked.overwrite,
    httpOnly: checked.httpOnly,
    // Not checked.signed: that is false in cookie mode (nothing to sign there), not what was given.
    signed: given.signed ?? true,
    rolling: checked.rolling,
    renew: checked.renew,
  };
  // Each value as given (checked above): normalizing (sameSite's casing, say) is session()'s job,
  // and the result is meant to be handed to it.
  for (const name of OPTION_NAMES) copyOption(given, data, name);
  // koa-session's old spelling, which session() accepts: returned under the current name.
  if (data.maxAge === undefined && checked.maxAge !== undefined) data.maxAge = checked.maxAge;
  return data;
}

function safeParse(input: unknown): SessionOptionsParseResult {
  try {
    return { success: true, data: parse(input) };
  } catch (error) {
    // Only a refusal of the options is a result; anything else (a getter on the input that throws)
    // propagates, as zod's safeParse lets non-validation errors through.
    if (error instanceof SessionConfigError) return { success: false, error };
    throw error;
  }
}

/**
 * koa-session 7's runtime `SessionOptions`, so `SessionOptions.parse(opts)` keeps working after the
 * import change. It validates with session()'s own rules and throws SessionConfigError, not zod's
 * ZodError (see docs/migrating-from-koa-session.md).
 *
 * @example
 * const result = SessionOptions.safeParse({ maxAge: "soon" });
 * result.success; // false; result.error.message names maxAge and what it accepts
 */
export const SessionOptions: SessionOptionsSchema = Object.freeze({ parse, safeParse });
