/**
 * The koa-session 7 legacy reader, enabled by `legacy: "koa-session"`. It accepts, once, a session
 * written by koa-session so that users stay logged in across the switch; the controller then re-issues
 * it in koa-sessionkit's format (a new 256-bit id or a sealed cookie) and destroys the legacy entry.
 *
 * koa-session's formats, matched exactly (koa-session 7, dist/esm/context.js and util.js):
 *   cookie mode: `<key>` = base64(JSON of the session incl. `_expire`, `_maxAge`)
 *   store mode:  `<key>` = externalKey (`prefix + randomUUID()`), the store entry keyed by that raw value
 *   both:        `<key>.sig` = Keygrip: HMAC-SHA1 of "<key>=<value>", base64 with / + = → _ - "",
 *                verified against every key of app.keys.
 *
 * @example
 * app.use(session({ legacy: "koa-session", store }, app)); // keep it on for at least one maxAge
 */
import type { Context } from "koa";
import { createHmac, timingSafeEqual } from "node:crypto";
import { debuglog } from "node:util";
import { logTag, storeKeyFor } from "../crypto/ids.js";
import type { SessionStore, StoredSession } from "../stores/contract.js";
import { isPlainRecord, normalizeStored, safeParse } from "../stores/json.js";
import type { LegacyReader, LegacySession } from "./runtime.js";
import type { ResolvedOptions } from "./options.js";
import { callStore } from "../stores/call.js";

const debug = debuglog("koa-sessionkit:legacy");

/** A Keygrip SHA-1 signature: 20 bytes in unpadded base64url is exactly 27 characters. */
const KEYGRIP_SIGNATURE = /^[A-Za-z0-9_-]{27}$/;
/** koa-session's cookie-mode value is standard base64 (with padding). */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Printable, no separators; koa-session ids are UUIDs, possibly behind a prefix or from a custom genid. */
const EXTERNAL_KEY = /^[\x21-\x7e]{1,256}$/;
/** Browsers keep at most 4096 bytes per cookie, so anything longer is not a cookie koa-session set. */
const MAX_COOKIE_CHARS = 4096;

/** Keygrip's encoding of an HMAC-SHA1 digest, as koa's `ctx.cookies` wrote it. */
function keygripSign(data: string, key: Buffer): Buffer {
  return createHmac("sha1", key).update(data).digest();
}

/** True when `signature` is Keygrip's signature of `data` under any of the keys. */
function verifyKeygrip(data: string, signature: string, keys: readonly Buffer[]): boolean {
  if (!KEYGRIP_SIGNATURE.test(signature)) return false;
  const given = Buffer.from(signature, "base64url");
  // One valid spelling per signature: Node's decoder would ignore the last character's spare bits.
  if (given.toString("base64url") !== signature) return false;
  if (given.length !== 20) return false;
  let matched = false;
  // Every key is tried, even after a match, so timing does not reveal which key signed.
  for (const key of keys) {
    if (timingSafeEqual(keygripSign(data, key), given)) matched = true;
  }
  return matched;
}

function cookie(ctx: Context, name: string): string | undefined {
  try {
    return ctx.cookies.get(name, { signed: false }) || undefined;
  } catch {
    return undefined; // a malformed Cookie header is no session, never a 5xx
  }
}

/** The value of the koa-session cookie when its Keygrip signature verifies; undefined otherwise. */
function signedValue(ctx: Context, options: ResolvedOptions, keys: readonly Buffer[]): string | undefined {
  if (keys.length === 0) return undefined;
  const value = cookie(ctx, options.key);
  if (value === undefined || value.length > MAX_COOKIE_CHARS) return undefined;
  const signature = cookie(ctx, `${options.key}.sig`);
  if (signature === undefined) return undefined;
  if (!verifyKeygrip(`${options.key}=${value}`, signature, keys)) {
    debug("cookie %s: no koa-session signature matched", logTag(value));
    return undefined;
  }
  return value;
}

function decodeCookieSession(value: string): StoredSession | undefined {
  if (!BASE64.test(value)) return undefined;
  try {
    const decoded = safeParse(Buffer.from(value, "base64").toString("utf8"));
    return isPlainRecord(decoded) ? (decoded as StoredSession) : undefined;
  } catch {
    return undefined;
  }
}

/** How long after a move a koa-session cookie still finds its session under the successor id. */
const SUCCESSOR_WINDOW_MS = 60_000;

/**
 * The id a koa-session session is re-issued under: an HMAC of its koa-session id under the first
 * key, so only the server can derive it, and every request carrying that cookie derives the same.
 */
function successorOf(options: ResolvedOptions, rawKey: string): { id: string; storeKey: string } {
  const keyring = options.keyring as NonNullable<ResolvedOptions["keyring"]>;
  const id = keyring.sign(`koa-sessionkit legacy successor\0${rawKey}`);
  return { id, storeKey: storeKeyFor(id, options.prefix) };
}

export function createLegacyReader(options: ResolvedOptions): LegacyReader {
  // koa-session signed with app.keys as they were; the current keys verify too, for apps whose old
  // keys were already long enough to keep.
  const keys = [...(options.keyring?.keys ?? []), ...(options.legacyKeys ?? [])];
  return {
    readCookie(ctx: Context): StoredSession | undefined {
      const value = signedValue(ctx, options, keys);
      if (value === undefined) return undefined;
      const stored = decodeCookieSession(value);
      debug("cookie %s: koa-session cookie-mode session %s", logTag(value), stored ? "decoded" : "did not decode");
      return stored;
    },

    async read(ctx: Context, store: SessionStore): Promise<LegacySession | undefined> {
      if (options.externalKey) return undefined;
      const rawKey = signedValue(ctx, options, keys);
      if (rawKey === undefined || !EXTERNAL_KEY.test(rawKey)) return undefined;
      const get = (key: string) => callStore("get", options.storeTimeout, () => store.get(key, options.maxAge, { rolling: options.rolling, ctx }), { ctx, store });
      const successor = successorOf(options, rawKey);
      // koa-session kept the entry under the raw id (no hash); the controller destroys it after re-issuing.
      const stored = await get(rawKey);
      debug("cookie %s: koa-session store entry %s", logTag(rawKey), stored ? "found" : "missing");
      if (isPlainRecord(stored)) return { stored: stored as StoredSession, legacyStoreKey: rawKey, successor };
      // Gone: a request sent alongside this one (a page's parallel requests all carry the old cookie)
      // may have just moved it. Within a minute of that move, its successor is this session too.
      const moved = normalizeStored(await get(successor.storeKey));
      const movedAt = moved?._sk?.createdAt;
      if (moved && typeof movedAt === "number" && Date.now() - movedAt < SUCCESSOR_WINDOW_MS) {
        return { stored: moved, legacyStoreKey: undefined, successor, alreadyMoved: true };
      }
      return { stored: null, legacyStoreKey: rawKey };
    },
  };
}

