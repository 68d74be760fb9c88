/**
 * MemoryStore: the development default. Bounded (least-recently-used eviction past `max` entries,
 * where "used" refreshes an entry once it is in the older half of the order) and expiring by TTL.
 * The order is a queue of (key, tick) pairs beside the Map, read from its head when evicting: a V8
 * Map evicted by `delete(keys().next().value)` keeps its deleted slots at the front until it
 * rehashes and walks over them on every eviction (6 µs per new session at 10,000 entries, full).
 * Entries are kept as JSON text, and every read returns an object of its own, so a handler mutating
 * its session can never alias the stored copy. A flat session (primitive values, flat metadata) is
 * parsed once, on its first read: later reads copy a private template, which a merge carries on to
 * the merged session, so a session written on every request is not parsed on every request either.
 *
 * Not for production: it is lost on restart and not shared between processes (it says so once).
 *
 * @example
 * import session from "koa-sessionkit";
 * import { MemoryStore } from "koa-sessionkit/memory";
 * app.use(session({ store: new MemoryStore({ max: 50_000 }) }, app));
 *
 * @module koa-sessionkit/memory
 */
import { debuglog } from "node:util";
import { copyFlat, isFlatStored, mergedTemplate, parseStored, serializeStored } from "./json.js";
import { stringifyJson } from "./deep-json.js";
import { applyChanges, applyTouch } from "./apply.js";
import { entryFromMeta, exceptKeys, newestFirst, refuseUnknownOptions } from "./shared.js";
import {
  ttlMs,
  type MaxAge,
  type SessionChanges,
  type SessionListEntry,
  type SessionStore,
  type StoredSession,
} from "./contract.js";
import { SessionConfigError } from "../errors.js";

const debug = debuglog("koa-sessionkit:memory");

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Most entries kept; the least recently used goes first. Default 10,000. */
  max?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

interface Entry {
  json: string;
  expiresAt: number;
  userId: string | undefined;
  /** Counter value when the entry last moved to the young end of the LRU order (its place in the queue). */
  tick: number;
  /**
   * `json` parsed (never handed out, only copied), from the first read after a set, and carried
   * through merges; undefined until read, null when the session is not flat and each read parses it.
   */
  template?: StoredSession | null | undefined;
}

let warnedProduction = false;

/**
 * An in-process session store: the default when `session()` gets no store, and the right one for
 * tests and development. Bounded by `max` (least recently used out first) and expiring by TTL.
 * Not for production: lost on restart and not shared between processes (with NODE_ENV=production
 * it warns once).
 *
 * @example
 * import { MemoryStore } from "koa-sessionkit/memory";
 * app.use(session({ store: new MemoryStore({ max: 50_000 }) }, app));
 */
export class MemoryStore implements SessionStore {
  /** Most entries kept. */
  readonly max: number;
  readonly #entries = new Map<string, Entry>();
  readonly #byUser = new Map<string, Set<string>>();
  readonly #now: () => number;
  #tick = 0;
  readonly #refreshAfter: number;
  /**
   * The LRU order, oldest first from #head: each key with the tick it had when queued. A pair whose
   * tick no longer matches its entry (moved since, or gone) is stale and skipped.
   */
  #queueKeys: string[] = [];
  #queueTicks: number[] = [];
  #head = 0;

  /** @throws SessionConfigError when `max` is not a positive integer or an option is not one of MemoryStoreOptions. */
  constructor(options: MemoryStoreOptions = {}) {
    refuseUnknownOptions("MemoryStore", options, ["max", "now"]);
    const max = options.max ?? 10_000;
    if (!Number.isInteger(max) || max < 1) {
      throw new SessionConfigError(`MemoryStore max must be a positive integer, got ${String(options.max)}`);
    }
    this.max = max;
    this.#refreshAfter = Math.max(1, max >> 1);
    this.#now = options.now ?? Date.now;
    if (process.env.NODE_ENV === "production" && !warnedProduction) {
      warnedProduction = true;
      process.emitWarning(
        "koa-sessionkit: sessions are in the in-process MemoryStore, which is lost on restart and not shared between processes. Use RedisStore, PostgresStore or SqliteStore in production.",
        { code: "KOA_SESSIONKIT_MEMORY_STORE" },
      );
    }
  }

  /** Number of live entries (expired ones are dropped as they are found). */
  get size(): number {
    return this.#entries.size;
  }

  get(key: string): StoredSession | null {
    const entry = this.#live(key);
    if (!entry) return null;
    // Only entries in the older half move to the young end: queueing on every read would grow the
    // queue by one pair per read (re-inserting into the Map, as before the queue, made reads at a
    // million sessions several times slower).
    if (this.#tick - entry.tick >= this.#refreshAfter) this.#enqueue(key, entry);
    if (entry.template === undefined) {
      // First read since a set: parse once. A flat session keeps the parse as its template (merges
      // carry it on), and this reader gets a copy; any other session is parsed on every read.
      const parsed = parseStored(entry.json);
      entry.template = parsed && isFlatStored(parsed) ? parsed : null;
      if (!entry.template) return parsed;
    }
    return entry.template ? copyFlat(entry.template, entry.json) : parseStored(entry.json);
  }

  set(key: string, session: StoredSession, maxAge: MaxAge | undefined): void {
    const json = serializeStored(session);
    this.#put(key, json, this.#now() + ttlMs(maxAge), session._sk?.userId);
  }

  /** Resolves whether a live entry was removed: false tells the middleware another request won. */
  destroy(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    this.#unindex(key, entry.userId);
    return entry.expiresAt > this.#now();
  }

  // touch and merge answer synchronously: the middleware then skips the timeout race it needs for I/O.
  touch(key: string, session: StoredSession, maxAge: MaxAge | undefined): void {
    const entry = this.#live(key);
    if (!entry) return;
    const stored = parseStored(entry.json);
    if (!stored) return;
    applyTouch(stored, session);
    this.#put(key, stringifyJson(stored), this.#now() + ttlMs(maxAge), entry.userId);
  }

  merge(key: string, changes: SessionChanges, maxAge: MaxAge | undefined): boolean {
    const entry = this.#live(key);
    // Destroy wins: an entry that is gone (logout, revoke) is never brought back by a merge.
    if (!entry) return false;
    if (changes.base !== undefined && changes.result !== undefined && entry.json === changes.base) {
      // Nobody wrote since this request loaded the session: its result is the merge, and a flat
      // session's template follows it (the next read copies instead of parsing: ~1 µs a request).
      const template = entry.template ? mergedTemplate(entry.template, changes) : undefined;
      this.#put(key, changes.result, this.#now() + ttlMs(maxAge), changes.reserved._sk?.userId ?? entry.userId);
      if (template) entry.template = template;
      return true;
    }
    const stored = parseStored(entry.json);
    if (!stored) return false;
    applyChanges(stored, changes);
    this.#put(key, stringifyJson(stored), this.#now() + ttlMs(maxAge), stored._sk?.userId);
    return true;
  }

  async listByUser(userId: string): Promise<SessionListEntry[]> {
    const list: SessionListEntry[] = [];
    for (const key of this.#byUser.get(userId) ?? []) {
      const entry = this.#live(key);
      const stored = entry && parseStored(entry.json);
      if (!entry || !stored) continue;
      list.push(entryFromMeta(key, stored._sk, entry.expiresAt));
    }
    return newestFirst(list);
  }

  async destroyByUser(userId: string, options: { except?: string | string[] } = {}): Promise<number> {
    const except = new Set(exceptKeys(options.except));
    let count = 0;
    for (const key of [...(this.#byUser.get(userId) ?? [])]) {
      if (except.has(key)) continue;
      if (this.#live(key)) count++;
      this.destroy(key);
    }
    return count;
  }

  async close(): Promise<void> {
    this.#entries.clear();
    this.#byUser.clear();
    this.#queueKeys = [];
    this.#queueTicks = [];
    this.#head = 0;
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.destroy(key);
      return undefined;
    }
    return entry;
  }

  #put(key: string, json: string, expiresAt: number, userId: string | undefined): void {
    const previous = this.#entries.get(key);
    if (previous && previous.userId !== userId) this.#unindex(key, previous.userId);
    if (previous) {
      previous.json = json;
      previous.expiresAt = expiresAt;
      previous.userId = userId;
      previous.template = undefined;
      // Young enough: stays where it is in the order (see get).
      if (this.#tick - previous.tick >= this.#refreshAfter) this.#enqueue(key, previous);
    } else {
      const entry: Entry = { json, expiresAt, userId, tick: 0, template: undefined };
      this.#entries.set(key, entry);
      this.#enqueue(key, entry);
    }
    if (userId !== undefined) {
      let keys = this.#byUser.get(userId);
      if (!keys) this.#byUser.set(userId, (keys = new Set()));
      keys.add(key);
    }
    while (this.#entries.size > this.max && this.#evictOldest());
  }

  /** Move `entry` to the young end of the order. */
  #enqueue(key: string, entry: Entry): void {
    entry.tick = ++this.#tick;
    this.#queueKeys.push(key);
    this.#queueTicks.push(entry.tick);
    // Stale pairs (entries moved or destroyed since) pile up while nothing is evicted: rebuild
    // from the live entries once they outnumber them, so the queue holds at most about two pairs
    // per live entry (16 bytes each: ~32 MB at a million sessions, beside ~400 MB of sessions).
    if (this.#queueKeys.length - this.#head > 2 * this.#entries.size + 1024) this.#rebuildQueue();
  }

  /** Evict the least recently used entry; false if none was found (never expected: every live entry is queued). */
  #evictOldest(): boolean {
    let evicted = false;
    while (!evicted && this.#head < this.#queueKeys.length) {
      const key = this.#queueKeys[this.#head] as string;
      const tick = this.#queueTicks[this.#head] as number;
      this.#head++;
      if (this.#entries.get(key)?.tick !== tick) continue; // stale: moved or gone since
      debug("evicting least recently used entry %s", key.slice(-8));
      this.destroy(key);
      evicted = true;
    }
    if (!evicted && this.#entries.size > 0) {
      // Defensive: rebuild from the live entries rather than loop forever in #put.
      this.#rebuildQueue();
      return false;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queueKeys.length) {
      this.#queueKeys = this.#queueKeys.slice(this.#head);
      this.#queueTicks = this.#queueTicks.slice(this.#head);
      this.#head = 0;
    }
    return evicted;
  }

  /** The queue from the live entries alone, oldest first. */
  #rebuildQueue(): void {
    const live = [...this.#entries].sort((a, b) => a[1].tick - b[1].tick);
    this.#queueKeys = live.map(([key]) => key);
    this.#queueTicks = live.map(([, entry]) => entry.tick);
    this.#head = 0;
  }

  #unindex(key: string, userId: string | undefined): void {
    if (userId === undefined) return;
    const keys = this.#byUser.get(userId);
    keys?.delete(key);
    if (keys?.size === 0) this.#byUser.delete(userId);
  }
}

export default MemoryStore;
