/**
 * Validate and freeze the middleware's options once, at `session()` time. Misuse throws a
 * SessionConfigError naming the fix; nothing about configuration is discovered at request time.
 * The caller's object is never mutated (koa-session's Object.assign onto it was a source of bugs).
 */
import type { Context } from "koa";
import { SessionConfigError } from "../errors.js";
import { keyring, type Keyring, type KeyInput } from "../crypto/keyring.js";
import type { MaxAge, SessionStore } from "../stores/contract.js";
import type { CookiePriority, SessionOptions, SameSite } from "./types.js";

export const ONE_DAY_MS = 24 * 60 * 60 * 1000;
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export interface ResolvedOptions
  extends Required<Pick<SessionOptions, "key" | "autoCommit" | "overwrite" | "httpOnly" | "signed" | "rolling" | "renew" | "path" | "mode" | "prefix" | "storeTimeout">> {
  /** Undefined when the option was not given (see resolveOptions). */
  maxAge: MaxAge | undefined;
  secure: boolean | undefined;
  sameSite: SameSite;
  domain: string | undefined;
  /** The cookie's Priority attribute (Chrome), lower case; undefined when not set. */
  priority: CookiePriority | undefined;
  /** The cookie's Partitioned attribute (CHIPS): a separate cookie jar per top-level site. */
  partitioned: boolean;
  store: SessionStore | undefined;
  ContextStore: SessionOptions["ContextStore"];
  externalKey: SessionOptions["externalKey"];
  encode: SessionOptions["encode"];
  decode: SessionOptions["decode"];
  genid: ((ctx: Context) => string) | undefined;
  valid: SessionOptions["valid"];
  beforeSave: SessionOptions["beforeSave"];
  legacy: "koa-session" | undefined;
  /** Keys that verify koa-session signatures only (see SessionOptions.legacyKeys). */
  legacyKeys: readonly Buffer[] | undefined;
  /** Undefined only when nothing is signed or sealed (signed: false in store mode). */
  keyring: Keyring | undefined;
}

function fail(message: string): never {
  throw new SessionConfigError(message);
}

/** Old koa-session keys, any length: they verify koa-session cookies while `legacy` is on, nothing else. */
function legacyKeyBytes(value: unknown, legacy: boolean): readonly Buffer[] | undefined {
  if (value === undefined) return undefined;
  if (!legacy) fail('option "legacyKeys" only verifies koa-session cookies; add legacy: "koa-session" or remove legacyKeys');
  const valid = (key: unknown): boolean => (typeof key === "string" || Buffer.isBuffer(key)) && key.length > 0;
  if (!Array.isArray(value) || value.length === 0 || !value.every(valid)) {
    fail('option "legacyKeys" must be a non-empty array of the non-empty strings (or Buffers) koa-session signed with');
  }
  return Object.freeze(value.map((key: string | Buffer) => (typeof key === "string" ? Buffer.from(key, "utf8") : Buffer.from(key))));
}

function checkFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") fail(`option "${name}" must be a function, got ${typeof value}`);
}

function checkBoolean(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "boolean") fail(`option "${name}" must be true or false, got ${JSON.stringify(value)}`);
}

function isStore(value: unknown): value is SessionStore {
  const store = value as Partial<SessionStore> | null;
  return (
    typeof store === "object" && store !== null &&
    typeof store.get === "function" && typeof store.set === "function" && typeof store.destroy === "function"
  );
}

function parseSameSite(value: unknown): SameSite {
  const normalized = typeof value === "string" ? value.toLowerCase() : (value ?? "lax");
  if (normalized === true || normalized === false || normalized === "strict" || normalized === "lax" || normalized === "none") {
    return normalized;
  }
  fail(`option "sameSite" must be "strict", "lax", "none" or a boolean, got ${JSON.stringify(value)}`);
}

/** The cookie attributes a browser checks, as given (secure, sameSite, path, domain, priority, partitioned). */
export type CookieAttributeInput = Pick<SessionOptions, "secure" | "sameSite" | "path" | "domain" | "priority" | "partitioned">;

/**
 * Validate the cookie's attributes together, the way browsers judge them, and fill in defaults:
 * Secure becomes required (and the default) for SameSite=None, Partitioned and the `__Host-` /
 * `__Secure-` name prefixes. Used by session() and by a per-request change of ctx.sessionOptions.
 */
export function cookieAttributes(key: string, input: CookieAttributeInput): Pick<ResolvedOptions, "secure" | "sameSite" | "path" | "domain" | "priority" | "partitioned"> {
  const sameSite = parseSameSite(input.sameSite);
  const path = input.path ?? "/";
  // Set-Cookie lines are formatted by hand, so nothing that could end or split an attribute gets in.
  if (typeof path !== "string" || !/^\/[\x20-\x3a\x3c-\x7e]*$/.test(path)) {
    fail(`option "path" must start with "/" and hold no ";" or control characters, got ${JSON.stringify(path)}`);
  }
  if (input.domain !== undefined && (typeof input.domain !== "string" || !/^\.?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(input.domain))) {
    fail(`option "domain" must be a host name such as "example.com", got ${JSON.stringify(input.domain)}`);
  }
  const priority = typeof input.priority === "string" ? input.priority.toLowerCase() : input.priority;
  if (priority !== undefined && priority !== "low" && priority !== "medium" && priority !== "high") {
    fail(`option "priority" must be "low", "medium" or "high", got ${JSON.stringify(input.priority)}`);
  }
  const partitioned = input.partitioned ?? false;
  if (sameSite === "none" && input.secure === false) {
    fail('sameSite "none" requires Secure cookies, which browsers enforce; remove secure: false or choose sameSite "lax"');
  }
  if (partitioned && input.secure === false) {
    fail("partitioned cookies must be Secure, which browsers enforce; remove secure: false or partitioned: true");
  }
  if (key.startsWith("__Host-")) {
    if (input.secure === false || input.domain !== undefined || path !== "/") {
      fail(`a "__Host-" cookie name requires secure cookies, path "/" and no domain; fix the options for "${key}"`);
    }
  } else if (key.startsWith("__Secure-") && input.secure === false) {
    fail(`a "__Secure-" cookie name requires secure cookies; remove secure: false for "${key}"`);
  }
  const secureRequired = key.startsWith("__Host-") || key.startsWith("__Secure-") || sameSite === "none" || partitioned;
  return { secure: input.secure ?? (secureRequired ? true : undefined), sameSite, path, domain: input.domain, priority, partitioned };
}

/** Everything about the options that can be checked without the keys: what `SessionOptions.parse` checks too. */
export type CheckedOptions = Omit<ResolvedOptions, "keyring">;

/**
 * Validate the options and fill in defaults, everything but the keys. session() continues with
 * resolveOptions (which needs app.keys); `SessionOptions.parse` (options-schema.ts) stops here, so
 * both refuse the same options with the same SessionConfigError.
 */
export function checkOptions(value: unknown): CheckedOptions {
  if (typeof value !== "object" || value === null) fail("options must be an object");
  const input = value as SessionOptions;
  const key = input.key ?? "koa.sess";
  if (typeof key !== "string" || !COOKIE_NAME.test(key)) {
    fail(`option "key" must be a valid cookie name (letters, digits and !#$%&'*+-.^_\`|~), got ${JSON.stringify(key)}`);
  }

  // Left undefined when not given: koa-session then sends a browser-session cookie while the session
  // itself (and its store entry) ends after ONE_DAY_MS; the controller does the same.
  // `maxage` is koa-session's old spelling, which it still accepts.
  const maxAge = input.maxAge ?? (input as { maxage?: MaxAge }).maxage;
  if (maxAge !== undefined && maxAge !== "session" && (typeof maxAge !== "number" || !Number.isFinite(maxAge) || maxAge <= 0)) {
    fail(`option "maxAge" must be a positive number of milliseconds or "session", got ${JSON.stringify(maxAge)}`);
  }

  for (const name of ["autoCommit", "overwrite", "httpOnly", "signed", "rolling", "renew", "secure", "partitioned"] as const) {
    checkBoolean(name, input[name]);
  }
  for (const name of ["encode", "decode", "genid", "valid", "beforeSave", "ContextStore"] as const) {
    checkFunction(name, input[name]);
  }
  // addAuditListener (events.ts) refuses it too, in these words, but only after session() has
  // installed itself on the app; here it fails first, and SessionOptions.parse refuses it as well.
  if (input.onEvent !== undefined && typeof input.onEvent !== "function") {
    fail(`onEvent must be a function (event) => void, got ${typeof input.onEvent}`);
  }

  const mode = input.mode ?? "store";
  if (mode !== "store" && mode !== "cookie") fail(`option "mode" must be "store" or "cookie", got ${JSON.stringify(mode)}`);
  if (input.store !== undefined && !isStore(input.store)) {
    fail('option "store" must have get(key, maxAge, opts), set(key, session, maxAge, opts) and destroy(key, opts) methods');
  }
  if (mode === "cookie" && (input.store || input.ContextStore || input.externalKey)) {
    fail('mode "cookie" keeps the whole session in the cookie; remove the store, ContextStore and externalKey options or use mode "store"');
  }
  // koa-session's encode/decode shape its cookie sessions, its default. Here the default keeps
  // sessions in a store and would never call them: an app that only swapped the import would move to
  // a MemoryStore without a word, so say what to do instead.
  if (input.mode === undefined && !input.store && !input.ContextStore && !input.externalKey && (input.encode || input.decode)) {
    fail(
      'options "encode"/"decode" shape cookie sessions, which koa-sessionkit keeps only with mode: "cookie" (sealed with AES-256-GCM around encode\'s output); add mode: "cookie", or remove encode/decode to keep sessions in a store',
    );
  }
  if (input.externalKey !== undefined) {
    const accessor = input.externalKey as Partial<NonNullable<SessionOptions["externalKey"]>>;
    if (typeof accessor?.get !== "function" || typeof accessor.set !== "function") {
      fail('option "externalKey" must be an object with get(ctx) and set(ctx, value) functions');
    }
  }

  const cookie = cookieAttributes(key, input);

  const storeTimeout = input.storeTimeout ?? 3000;
  if (typeof storeTimeout !== "number" || !(storeTimeout > 0)) fail(`option "storeTimeout" must be a positive number of ms`);
  const prefix = input.prefix ?? "";
  if (typeof prefix !== "string") fail(`option "prefix" must be a string`);
  if (input.legacy !== undefined && input.legacy !== "koa-session") {
    fail(`option "legacy" accepts only "koa-session", got ${JSON.stringify(input.legacy)}`);
  }
  const legacyKeys = legacyKeyBytes(input.legacyKeys, input.legacy !== undefined);

  const signed = input.signed ?? true;
  return {
    key,
    maxAge,
    autoCommit: input.autoCommit ?? true,
    overwrite: input.overwrite ?? true,
    httpOnly: input.httpOnly ?? true,
    // A sealed cookie is already authenticated (AES-GCM); a .sig companion would add nothing.
    signed: mode === "cookie" ? false : signed,
    rolling: input.rolling ?? false,
    renew: input.renew ?? false,
    ...cookie,
    mode,
    store: input.store,
    ContextStore: input.ContextStore,
    externalKey: input.externalKey,
    encode: input.encode,
    decode: input.decode,
    genid: input.genid,
    prefix,
    valid: input.valid,
    beforeSave: input.beforeSave,
    storeTimeout,
    legacy: input.legacy,
    legacyKeys,
  };
}

/** Why the options need keys, as the error says it when they are missing; undefined when they don't. */
function keysNeededFor(options: CheckedOptions, input: SessionOptions): string | undefined {
  // Cookie mode seals whatever `signed` says (options.signed is false there: no .sig cookie), so
  // "signed sessions" would send an app that set signed: false looking for the wrong reason.
  if (options.mode === "cookie") return "to seal cookie-mode sessions (AES-256-GCM, under keys derived from app.keys, whatever signed says)";
  if (input.signed ?? true) return "for signed sessions";
  if (options.legacy !== undefined) return 'by legacy: "koa-session", which derives the re-issued session ids from the first key';
  return undefined;
}

export function resolveOptions(input: SessionOptions, appKeys: unknown): ResolvedOptions {
  const options = checkOptions(input);
  return Object.freeze({ ...options, keyring: keyringFor(options, input, input.keys ?? appKeys) });
}

/**
 * The keyring the options need (built and checked from `keySource`: the `keys` option, else
 * app.keys), or undefined when nothing is signed or sealed. Throws when they are needed and missing.
 */
export function keyringFor(options: CheckedOptions, input: SessionOptions, keySource: unknown): Keyring | undefined {
  const neededFor = keysNeededFor(options, input);
  if (neededFor === undefined) return undefined;
  if (keySource === undefined || keySource === null) {
    fail(
      `app.keys is required ${neededFor}, and was not set when session() was called; set app.keys = [key1, key2] (keys of at least 32 bytes) before app.use(session(...)) (generate them with "npx koa-sessionkit keys")`,
    );
  }
  // A refusal names where the keys were set, or the reader looks for a mistake in a fine app.keys.
  return keyring(keySource as readonly KeyInput[] | Keyring, input.keys === undefined ? "app.keys" : "the keys option");
}
