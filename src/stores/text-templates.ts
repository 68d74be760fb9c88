/**
 * Parsed sessions remembered by their stored text, for the stores that read text back (RedisStore,
 * PostgresStore, SqliteStore). A session is read far more often than it is written, and between two
 * writes every read returns the same text, which each read used to parse again: `JSON.parse`, the
 * dangerous-key check and the RAW_JSON attachment, about 1.5 µs for a 140-byte session against about
 * 0.7 µs for a copy of a remembered template (tight loop, the VM's slow phase; bench/README.md).
 *
 * Only flat sessions are remembered (every value a primitive, `_sk` a flat record; see isFlatStored
 * in json.ts): a copy of the template then shares nothing with it, so no request can reach another's
 * session. The template itself is never handed out. A text is remembered from its second read on:
 * the first read of a text parses as before and costs one map lookup more, so a server whose
 * sessions are each read once between writes loses ~0.1 µs, not a parse and a copy.
 *
 * Keyed by the exact text, so a hit is the same content by construction. Bounded two ways: at most
 * `max` texts (two generations, crypto/verified-cache.ts) and texts of at most MAX_TEXT characters
 * (a larger session is parsed every time): at most a few MB.
 */
import type { StoredSession } from "./contract.js";
import { VerifiedCache } from "../crypto/verified-cache.js";
import { copyFlat, isFlatStored, parseStored } from "./json.js";

/** Longest text remembered: a typical session is 100–500 characters. */
export const MAX_TEXT = 1024;
/** Texts remembered by default (both generations together). */
export const TEMPLATE_ENTRIES = 2_000;

/** Read once so far: remembered at the next read. */
const SEEN = 0;
/** Not flat (or not a session): parsed on every read. */
const NOT_FLAT = 1;

export class TextTemplates {
  readonly #known: VerifiedCache<StoredSession | typeof SEEN | typeof NOT_FLAT>;

  constructor(max = TEMPLATE_ENTRIES) {
    this.#known = new VerifiedCache(max);
  }

  /** What `parseStored(text)` returns (a fresh object with the text attached), from a template when one is remembered. */
  parse(text: string | null | undefined): StoredSession | null {
    if (typeof text !== "string" || text.length > MAX_TEXT) return parseStored(text);
    const known = this.#known.get(text);
    if (known === undefined) {
      this.#known.set(text, SEEN);
      return parseStored(text);
    }
    if (known === NOT_FLAT) return parseStored(text);
    if (known !== SEEN) return copyFlat(known, text);
    // The second read: this parse becomes the template (kept, never handed out) when it is flat.
    const parsed = parseStored(text);
    const flat = parsed !== null && isFlatStored(parsed);
    this.#known.set(text, flat ? parsed : NOT_FLAT);
    return flat ? copyFlat(parsed, text) : parsed;
  }
}
