/**
 * A counting semaphore: at most `limit` tasks run at once, the rest wait in order. Password hashing
 * uses it so a burst of logins queues instead of filling libuv's thread pool (4 threads by default),
 * which file system and DNS calls of every other request share.
 */
import { SessionConfigError } from "../errors.js";
export class Semaphore {
  readonly limit: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new SessionConfigError(`semaphore limit must be a positive integer, got ${String(limit)}`);
    this.limit = limit;
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      // Hand the slot straight to the next waiter, so #active never dips and lets a newcomer jump the queue.
      if (next) next();
      else this.#active--;
    }
  }
}
