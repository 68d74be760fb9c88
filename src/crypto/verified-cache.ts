/**
 * A small bounded cache of cookies this process has already verified. Under HTTP load one HMAC-SHA256 plus
 * one SHA-256 cost ~20 µs per request (OpenSSL context set-up, cold caches), far more than in a
 * tight loop; a returning browser sends the same cookie again and again, so a hit skips both.
 *
 * Only successes are cached, keyed by the exact cookie text (value and signature), so a miss always
 * falls back to the constant-time check and a forged cookie can never be answered from here.
 */
export class VerifiedCache<T> {
  readonly #entries = new Map<string, T>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get(key: string): T | undefined {
    // First-in, first-out rather than strict LRU: re-ordering on every hit costs more than the rare
    // re-verification of a busy cookie that aged out.
    return this.#entries.get(key);
  }

  set(key: string, value: T): void {
    this.#entries.set(key, value);
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
  }
}
