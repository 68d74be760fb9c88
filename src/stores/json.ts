/**
 * Safe JSON for session data, shared by the middleware and every store, and exported for people who
 * write their own store: `parseStored(text)` on the way out of the database, `serializeStored(session)`
 * on the way in. Together they keep one request to one parse and one serialize (the text travels
 * under the RAW_JSON symbol) and drop prototype-polluting keys.
 *
 * @example
 * import { parseStored, serializeStored, type SessionStore } from "koa-sessionkit";
 * class FileStore implements SessionStore {
 *   async get(key: string) { return parseStored(await readFile(path(key), "utf8").catch(() => null)); }
 *   async set(key: string, session: StoredSession) { await writeFile(path(key), serializeStored(session)); }
 *   async destroy(key: string) { await rm(path(key), { force: true }); }
 * }
 *
 * JSON.parse itself never touches a prototype, but a parsed object with an own `__proto__` key turns
 * dangerous the moment code copies it with assignment (koa-session's `for…in` + `Reflect.set` does).
 * We drop `__proto__`, `constructor` and `prototype` keys at every depth while parsing, only when
 * the text could contain such a key, so ordinary sessions parse at full speed. Values of any depth
 * (stores/deep-json.ts): no recursion that a deeply nested value could overflow.
 */
import { RAW_JSON, type SessionChanges, type StoredSession } from "./contract.js";
import { isDangerousKey, parseJson, stringifyJson } from "./deep-json.js";

export { isDangerousKey };

/** Parse JSON text into a plain value with no dangerous keys. Throws SyntaxError on bad JSON. */
export function safeParse(text: string): unknown {
  return parseJson(text);
}

export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Parse what a store kept into a StoredSession, remembering the text so the middleware can detect
 * "unchanged" without serializing twice. Returns null for anything that is not a JSON object.
 */
export function parseStored(text: string | null | undefined): StoredSession | null {
  if (typeof text !== "string" || text.length === 0) return null;
  let value: unknown;
  try {
    value = safeParse(text);
  } catch {
    return null;
  }
  if (!isPlainRecord(value)) return null;
  Object.defineProperty(value, RAW_JSON, { value: text, enumerable: false });
  return value as StoredSession;
}

/** The JSON text for a session about to be stored: reuses the middleware's serialization when present. */
export function serializeStored(session: StoredSession): string {
  const raw = (session as { [RAW_JSON]?: unknown })[RAW_JSON];
  return typeof raw === "string" ? raw : stringifyJson(session);
}

/** Attach already-serialized text to a session object handed to a store. */
export function withRawJson<T extends object>(value: T, text: string): T {
  Object.defineProperty(value, RAW_JSON, { value: text, enumerable: false, configurable: true });
  return value;
}

export function rawJsonOf(value: object): string | undefined {
  const raw = (value as { [RAW_JSON]?: unknown })[RAW_JSON];
  return typeof raw === "string" ? raw : undefined;
}

/** Make whatever a store returned into a clean StoredSession with its JSON text attached. */
export function normalizeStored(value: unknown): StoredSession | null {
  if (!isPlainRecord(value)) return null;
  if (rawJsonOf(value) !== undefined) return value as StoredSession;
  // A foreign store (koa-redis…) hands back its own object: one serialize gives both a clean,
  // prototype-safe copy and the text that change detection compares against.
  try {
    return parseStored(stringifyJson(value));
  } catch {
    return null;
  }
}

/**
 * `text` parsed, when every value is a primitive and `_sk` (the metadata) a flat record: a template
 * that many reads can share, since a copy of it (copyFlat, or the controller copying values into its
 * Session) can't reach into it. Null for anything else (nested values are parsed per read, so no
 * request can alias another's). `freeze` when the template itself is handed out (cookie mode); a
 * template that is only ever copied (MemoryStore) needs no freezing.
 */
export function flatTemplate(text: string, freeze: boolean): StoredSession | null {
  const stored = parseStored(text);
  if (!stored || !isFlatStored(stored)) return null;
  if (freeze && stored._sk) Object.freeze(stored._sk);
  return freeze ? Object.freeze(stored) : stored;
}

/** Every value a primitive, and `_sk` (the metadata) a flat record: what a template may be made of. */
export function isFlatStored(stored: StoredSession): boolean {
  for (const key of Object.keys(stored)) {
    const value = stored[key];
    if (typeof value !== "object" || value === null) continue;
    if (key !== "_sk" || !isFlatRecord(value)) return false;
  }
  return true;
}

function isFlatRecord(value: object): boolean {
  if (Array.isArray(value)) return false;
  for (const item of Object.values(value)) if (typeof item === "object" && item !== null) return false;
  return true;
}

/** A fresh, mutable copy of a flat template, its text attached as parseStored attaches it: what a parse would return. */
export function copyFlat(template: StoredSession, text: string): StoredSession {
  const copy: StoredSession = { ...template };
  if (template._sk) copy._sk = { ...template._sk };
  Object.defineProperty(copy, RAW_JSON, { value: text, enumerable: false });
  return copy;
}

/** A value that JSON writes and reads back as the same value: a string, a finite number but -0, a boolean or null. */
function readsBackSame(value: unknown): boolean {
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0);
  return value === null || typeof value === "string" || typeof value === "boolean";
}

/**
 * The flat template of an entry after a merge of `changes` into it, built as the middleware built the
 * text it stored with the merge (`changes.result`: reserved fields first, then the data in the
 * session's order), so a store can keep copying a template instead of parsing every read. Null when
 * the result would not be flat, or a value would not read back from that text the same (NaN, -0,
 * undefined, a Date): then the store parses the text, as for any other entry.
 */
export function mergedTemplate(template: StoredSession, changes: SessionChanges): StoredSession | null {
  const { set, unset, reserved } = changes;
  const next: StoredSession = {};
  if (reserved._expire !== undefined) {
    if (!readsBackSame(reserved._expire)) return null;
    next._expire = reserved._expire;
  }
  if (reserved._session !== undefined) {
    if (!readsBackSame(reserved._session)) return null;
    next._session = reserved._session;
  }
  if (reserved._maxAge !== undefined) {
    if (!readsBackSame(reserved._maxAge)) return null;
    next._maxAge = reserved._maxAge;
  }
  const meta = reserved._sk as Record<string, unknown> | undefined;
  if (meta !== undefined) {
    if (!isPlainRecord(meta)) return null;
    const copy: Record<string, unknown> = {};
    for (const name of Object.keys(meta)) {
      if (!readsBackSame(meta[name]) || isDangerousKey(name)) return null;
      copy[name] = meta[name];
    }
    next._sk = copy as unknown as StoredSession["_sk"];
  }
  for (const name of Object.keys(template)) {
    if (name === "_expire" || name === "_session" || name === "_maxAge" || name === "_sk" || unset.includes(name)) continue;
    next[name] = Object.prototype.hasOwnProperty.call(set, name) ? set[name] : template[name];
  }
  for (const name of Object.keys(set)) {
    if (isDangerousKey(name) || name === "_expire" || name === "_session" || name === "_maxAge" || name === "_sk") return null;
    if (!Object.prototype.hasOwnProperty.call(next, name)) next[name] = set[name];
    if (!readsBackSame(set[name])) return null;
  }
  return next;
}
