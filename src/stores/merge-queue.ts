/**
 * Group commit for one session key. Writers to the same session from this process queue up; while
 * one write is in flight the next ones gather, and then all of them go in a single write, applied in
 * arrival order. Optimistic compare-and-set alone turns ten parallel writers into rounds of nine
 * losers; this turns them into one round trip per batch. Across processes the store's own atomic
 * check still decides.
 */
import type { MaxAge, StoredSession } from "./contract.js";

export interface MergeJob {
  /** Apply this writer's change to the session as currently stored. */
  change: (stored: StoredSession) => void;
  maxAge: MaxAge | undefined;
  /** The text this writer loaded and the whole result it wants, for a write with no read first. */
  hint?: { base: string; result: string; userId?: string | undefined } | undefined;
}

/**
 * Writes a batch; resolves the text now stored, or false when the entry no longer exists (destroy
 * wins for every job). `previous` is what the batch before this one wrote, if any: the likely
 * current text, so the writer can skip reading it.
 */
export type BatchWriter = (key: string, jobs: MergeJob[], previous: string | undefined) => Promise<string | false>;

interface Pending extends MergeJob {
  resolve(written: boolean): void;
  reject(error: unknown): void;
}

export class MergeQueue {
  readonly #write: BatchWriter;
  readonly #queues = new Map<string, Pending[]>();

  constructor(write: BatchWriter) {
    this.#write = write;
  }

  run(key: string, job: MergeJob): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const queue = this.#queues.get(key);
      if (queue) {
        queue.push({ ...job, resolve, reject });
        return;
      }
      this.#queues.set(key, []);
      void this.#drain(key, [{ ...job, resolve, reject }]);
    });
  }

  async #drain(key: string, first: Pending[]): Promise<void> {
    let batch = first;
    let previous: string | undefined;
    while (batch.length > 0) {
      try {
        const written = await this.#write(key, batch, previous);
        previous = written === false ? undefined : written;
        for (const job of batch) job.resolve(written !== false);
      } catch (error) {
        previous = undefined;
        for (const job of batch) job.reject(error);
      }
      const waiting = this.#queues.get(key) ?? [];
      batch = waiting.splice(0);
    }
    this.#queues.delete(key);
  }
}
