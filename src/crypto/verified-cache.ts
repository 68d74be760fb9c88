/**
 * A small bounded cache of cookies this process has already verified. Under HTTP load one HMAC-SHA256 plus
 * one SHA-256 cost ~20 µs per request (OpenSSL context set-up, cold caches), far more than in a
 * tight loop; a returning browser sends the same cookie again and again, so a hit skips both.
 *
 * Only successes are cached, keyed by the exact cookie text (value and signature), so a miss always
 * falls back to the constant-time check and a forged cookie can never be answered from here.
 *
 * Two generations of at most max/2 entries each: new entries go into the young one; when it is full
 * it becomes the old one and the previous old one is dropped whole. A hit in the old generation moves
 * the entry to the young one, so a cookie in use stays. Nothing is ever deleted one by one: a V8 Map
 * evicted first-in, first-out (`delete(keys().next().value)`) keeps the deleted slots at its front
 * until it rehashes, and every eviction walks over them: 7 µs per miss at 10,000 entries with 12,000
 * sessions in rotation, against 0.1 µs here. RedisStore's memory of index scores
 * (stores/redis-index-writes.ts) is bounded the same way.
 *
 * `offer` remembers an entry only from its second offer in a short while. Whatever a cache keeps
 * outlives V8's young-generation collections, so it is copied and promoted, the most expensive
 * garbage there is; with more sessions in rotation than the cache holds, every entry kept on first
 * sight was evicted unread, and that churn cost the 12,000-session reads several µs each
 * (bench/README.md, "Past the caches"). The first offer only marks the key's tag in a fixed array (no
 * allocation); a key whose tag still stands at its next offer is kept. A browser that comes back
 * within a few hundred other visitors' requests is remembered; many visitors seen once each
 * overwrite each other's tags and are never kept. A tag collision only changes what is kept, never
 * what a lookup answers: entries are found by the whole key.
 */
/** Tags of recently offered keys (a power of two). */
const TAG_SLOTS = 1024;

export class VerifiedCache<T> {
  #young = new Map<string, T>();
  #old = new Map<string, T>();
  readonly #generation: number;
  #tags: Int32Array | undefined;

  /** @param max - most entries kept (both generations together). */
  constructor(max: number) {
    this.#generation = Math.max(1, Math.ceil(max / 2));
  }

  get(key: string): T | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: T): void {
    this.#young.set(key, value);
    if (this.#young.size >= this.#generation) {
      this.#old = this.#young;
      this.#young = new Map();
    }
  }

  /**
   * Remember `value` under `key` if `key` was offered before in a short while (see above); true when it
   * was remembered. The first offer of a key costs no allocation.
   */
  offer(key: string, value: T): boolean {
    const tags = (this.#tags ??= new Int32Array(TAG_SLOTS));
    const tag = keyTag(key);
    const slot = tag & (TAG_SLOTS - 1);
    if (tags[slot] !== tag) {
      tags[slot] = tag;
      return false;
    }
    this.set(key, value);
    return true;
  }

  /** Entries held (an entry moved to the young generation may be counted twice until the old one goes). */
  get size(): number {
    return this.#young.size + this.#old.size;
  }
}

/**
 * A non-zero 32-bit tag of a key from its last characters: the keys offered end in something random
 * (a signature, a sealed token's authentication tag, an id, the hex of a hash).
 */
function keyTag(key: string): number {
  let hash = 0;
  for (let i = Math.max(0, key.length - 8); i < key.length; i++) hash = (Math.imul(hash, 31) + key.charCodeAt(i)) | 0;
  return hash === 0 ? 1 : hash;
}
