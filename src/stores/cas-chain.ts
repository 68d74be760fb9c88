/**
 * Compare-and-set merges for one store, pipelined per session key.
 *
 * Each merge must write only if the entry still holds the text it was computed from, and must never
 * recreate a destroyed entry. Waiting for each write before computing the next serializes parallel
 * writers to one session (one round trip each); plain optimistic retries turn ten of them into rounds
 * of nine losers. Instead, writers from this process form a chain: each computes its text from the
 * text the previous link *will* write and sends its compare-and-set at once. The server applies them
 * in order on one connection, so while no other process interferes every link succeeds, and the
 * writes stream like blind SETs.
 *
 * When a link fails (another process wrote, the request's own read was stale, or a script-cache miss
 * reordered commands), the chain is dropped and the failed writer starts a new chain from the text the
 * server handed back; the links failing behind it join that new chain instead of racing it. A retry
 * is therefore itself a chain link: writers of this process never compete with each other, each
 * conflict costs one more compare-and-set, and the attempts per write are capped (MAX_ATTEMPTS).
 * Retries that competed with the chain (the earlier design) could keep fifty parallel writers to one
 * session failing each other indefinitely: a storm at a few hundred writes per second, all CPU.
 */
import type { StoredSession } from "./contract.js";
import { SessionkitError } from "../errors.js";
import { parseStored } from "./json.js";
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
  /** The same, parsed, once a link needed it; each link changes it in place and re-serializes. */
  stored?: StoredSession | undefined;
  inflight: number;
}

interface Link {
  base: string;
  next: string;
  userId: string | undefined;
  /** The parsed `next`, when this link built it (kept by a chain it starts). */
  stored?: StoredSession | undefined;
}

/**
 * Compare-and-sets one write may send. Each retry follows a conflict with another process (writers of
 * this process chain instead of conflicting), so hitting the cap means other processes kept writing
 * this one session in the few milliseconds between our attempts.
 */
export const MAX_ATTEMPTS = 10;

export class MergeContendedError extends SessionkitError {
  constructor(attempts: number) {
    super(
      "ERR_SESSIONKIT_MERGE_CONTENDED",
      `koa-sessionkit: could not merge into a session after ${attempts} compare-and-set attempts: other processes kept writing the same session in between. This request's change was not written; retry the request, or make fewer parallel writes to one session.`,
      503,
    );
  }
}

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
    // The text the store held at our last look: from the request's load, a failed CAS, or a read.
    let known: string | null | undefined;
    let hint = merge.hint;
    for (let attempt = 1; ; attempt++) {
      if (!hint && known === undefined && !this.#chains.has(key)) known = await this.#read(key);
      let link: Link | undefined;
      // Checked after any await: a chain another writer started meanwhile is the newest text.
      const chain = this.#chains.get(key);
      if (chain) link = extend(chain, merge.change);
      else if (hint) link = { base: hint.base, next: hint.result, userId: hint.userId };
      else if (known === null || known === undefined) return false;
      else link = start(known, merge.change);
      hint = undefined;
      if (!link) {
        // Text that does not parse as a session: read afresh (an unparsable entry reads as gone).
        if (chain && this.#chains.get(key) === chain) this.#chains.delete(key);
        if (!chain) return false;
        known = undefined;
        continue;
      }
      // Join (or start) the key's chain synchronously, before any await, so the next writer builds
      // on this link. Inline rather than a helper: every async layer costs a promise per write.
      const current = chain ?? { text: link.next, stored: link.stored, inflight: 0 };
      current.text = link.next;
      current.inflight++;
      if (!chain) this.#chains.set(key, current);
      let written: 1 | 0 | string;
      try {
        written = await this.#cas(key, link.base, link.next, link.userId, merge.ttl);
      } finally {
        current.inflight--;
        if (current.inflight === 0 && this.#chains.get(key) === current) this.#chains.delete(key);
      }
      if (written === 1) return true;
      if (written === 0) return false;
      // Someone else wrote: this chain's texts are stale; the next attempt starts a new chain.
      if (this.#chains.get(key) === current) this.#chains.delete(key);
      if (attempt >= MAX_ATTEMPTS) throw new MergeContendedError(attempt);
      known = written;
    }
  }
}

/** The next link of `chain`: its parsed text (parsed once per chain) changed in place. */
function extend(chain: Chain, change: CasMerge["change"]): Link | undefined {
  chain.stored ??= parseStored(chain.text) ?? undefined;
  if (!chain.stored) return undefined;
  change(chain.stored);
  return { base: chain.text, next: stringifyJson(chain.stored), userId: chain.stored._sk?.userId };
}

/** A first link built on `text` as the store holds it. */
function start(text: string, change: CasMerge["change"]): Link | undefined {
  const stored = parseStored(text);
  if (!stored) return undefined;
  change(stored);
  return { base: text, next: stringifyJson(stored), userId: stored._sk?.userId, stored };
}
