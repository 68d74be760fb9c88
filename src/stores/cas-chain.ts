/**
 * Compare-and-set merges for one store, pipelined per session key.
 *
 * Each merge must write only if the entry still holds the text it was computed from, and must never
 * recreate a destroyed entry. Waiting for each write before computing the next serializes parallel
 * writers to one session (one round trip each); plain optimistic retries turn ten of them into rounds
 * of nine losers. Instead, writers from this process form a chain: each computes its text from the
 * text the previous link *will* write and sends its compare-and-set at once. The server applies them
 * in order on one connection, so while no other process interferes every link succeeds, and the
 * writes stream like blind SETs. When another process did write, the stale links fail, the chain is
 * dropped, and each failed writer retries from the text the server handed back.
 */
import type { StoredSession } from "./contract.js";
import { parseStored } from "../session/codec.js";
import { stringifyJson } from "./deep-json.js";

/** 1 written; 0 the entry is gone; otherwise the text the entry holds now. */
export type CompareAndSet = (key: string, expected: string, next: string, userId: string | undefined, ttlMs: number) => Promise<1 | 0 | string>;

export interface CasMerge {
  change: (stored: StoredSession) => void;
  /** Lifetime of the entry after this write, in ms. */
  ttl: number;
  /** The text this request loaded and the whole result it wants: a first link needs no read. */
  hint?: { base: string; result: string; userId?: string | undefined } | undefined;
}

interface Chain {
  /** What the last link sent will leave in the store. */
  text: string;
  /** The same, parsed, once a second link needed it; each link changes it in place and re-serializes. */
  stored?: StoredSession | undefined;
  inflight: number;
}

const MAX_ATTEMPTS = 100;

export class CasChain {
  readonly #chains = new Map<string, Chain>();
  readonly #cas: CompareAndSet;
  readonly #read: (key: string) => Promise<string | null>;

  constructor(compareAndSet: CompareAndSet, read: (key: string) => Promise<string | null>) {
    this.#cas = compareAndSet;
    this.#read = read;
  }

  /** Resolves false when the entry no longer exists (destroy wins). */
  async merge(key: string, merge: CasMerge): Promise<boolean> {
    const chain = this.#chains.get(key);
    let link: { base: string; next: string; userId: string | undefined } | undefined;
    if (chain) {
      // The previous link's text is already serialized, so its object can be changed in place.
      chain.stored ??= parseStored(chain.text) ?? undefined;
      if (chain.stored) {
        merge.change(chain.stored);
        link = { base: chain.text, next: stringifyJson(chain.stored), userId: chain.stored._sk?.userId };
      }
    } else if (merge.hint) link = { base: merge.hint.base, next: merge.hint.result, userId: merge.hint.userId };
    if (!link) return this.#retry(key, merge, undefined);

    // Joined synchronously, before any await, so the next writer builds on this one.
    const current = chain ?? { text: link.next, inflight: 0 };
    current.text = link.next;
    current.inflight++;
    this.#chains.set(key, current);
    let written: 1 | 0 | string;
    try {
      written = await this.#cas(key, link.base, link.next, link.userId, merge.ttl);
    } finally {
      current.inflight--;
      if (current.inflight === 0 && this.#chains.get(key) === current) this.#chains.delete(key);
    }
    if (written === 1) return true;
    if (written === 0) return false;
    // Someone else wrote: this chain's texts are stale; new writers start over.
    if (this.#chains.get(key) === current) this.#chains.delete(key);
    return this.#retry(key, merge, written);
  }

  /** Read-modify-compare-and-set until it sticks, starting from `latest` when the server sent it. */
  async #retry(key: string, merge: CasMerge, latest: string | undefined): Promise<boolean> {
    let text: string | null | undefined = latest;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = text ?? (await this.#read(key));
      if (current === null) return false;
      const link = apply(current, merge.change);
      if (!link) return false;
      const written = await this.#cas(key, current, link.next, link.userId, merge.ttl);
      if (written === 1) return true;
      if (written === 0) return false;
      text = written;
    }
    throw new Error(`koa-sessionkit: could not merge into a session after ${MAX_ATTEMPTS} attempts; too many parallel writes to one session`);
  }
}

function apply(text: string, change: CasMerge["change"]): { base: string; next: string; userId: string | undefined } | undefined {
  const stored = parseStored(text);
  if (!stored) return undefined;
  change(stored);
  return { base: text, next: stringifyJson(stored), userId: stored._sk?.userId };
}
