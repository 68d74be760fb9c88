/**
 * Parsed sessions remembered per store key, for the stores that read text back (RedisStore,
 * PostgresStore, SqliteStore). A session is read far more often than it is written, and between two
 * writes every read returns the same text, which each read used to parse again: `JSON.parse`, the
 * dangerous-key check and the RAW_JSON attachment, about 1.5 µs for a 140-byte session against about
 * 0.7 µs for a copy of a remembered template (tight loop, the VM's slow phase; bench/README.md).
 *
 * Only flat sessions are remembered (every value a primitive, `_sk` a flat record; see isFlatStored
 * in json.ts): a copy of the template then shares nothing with it, so no request can reach another's
 * session. The template itself is never handed out, and it is used only when the text read now is
 * exactly the text it was parsed from.
 *
 * What is remembered must cost nothing for a session read only once in a while: anything kept
 * outlives V8's young-generation collections and is copied and promoted, the most expensive garbage
 * there is (with the texts of 6,000 sessions in rotation kept on first sight, ~300 bytes per read were
 * promoted and the read got slower, not faster). So a session is remembered from its second read in
 * a short while on (VerifiedCache.offer): many sessions read once each are never kept.
 *
 * Bounded: at most `max` sessions (two generations, crypto/verified-cache.ts), texts of at most
 * MAX_TEXT characters (a larger session is parsed every time): at most a few MB.
 */
import type { StoredSession } from "./contract.js";
import { VerifiedCache } from "../crypto/verified-cache.js";
import { copyFlat, isFlatStored, parseStored } from "./json.js";

/** Longest text remembered: a typical session is 100–500 characters. */
export const MAX_TEXT = 1024;
/** Sessions remembered by default (both generations together). */
export const TEMPLATE_ENTRIES = 2_000;

interface Remembered {
  text: string;
  template: StoredSession;
}

export class TextTemplates {
  readonly #known: VerifiedCache<Remembered>;

  constructor(max = TEMPLATE_ENTRIES) {
    this.#known = new VerifiedCache(max);
  }

  /** Sessions remembered (an entry moved between generations may count twice for a while). */
  get size(): number {
    return this.#known.size;
  }

  /**
   * What `parseStored(text)` returns (a fresh object with the text attached) for the text read under
   * `key`, from a remembered template when it was parsed from this very text.
   */
  parse(key: string, text: string | null | undefined): StoredSession | null {
    if (typeof text !== "string" || text.length > MAX_TEXT) return parseStored(text);
    const known = this.#known.get(key);
    if (known !== undefined && known.text === text) return copyFlat(known.template, text);
    const parsed = parseStored(text);
    if (parsed === null || !isFlatStored(parsed)) return parsed;
    // Read again in a short while (VerifiedCache.offer): this parse becomes the template (kept, never
    // handed out), so the caller gets a copy.
    return this.#known.offer(key, { text, template: parsed }) ? copyFlat(parsed, text) : parsed;
  }
}
