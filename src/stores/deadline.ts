/**
 * One store-time budget per request. Every store call a request makes (session load and commit,
 * the login throttle's counters, the per-user session index) draws on it, so a stalled store costs
 * a request at most `storeTimeout` in total, not one timeout per call: a login that reads the
 * throttle, destroys the old session and writes the new one answers 503 within one storeTimeout.
 *
 * Only time spent waiting on a store counts (overlapping calls count once): password hashing or an
 * app's own work between two store calls does not use the budget up.
 *
 * Once a call failed or timed out, every later call of the same request fails at once without
 * reaching the store: a write that failed is never retried (a commit after a failed handler would
 * otherwise write the session again, and wait again).
 *
 * The budget lives on the request's context under a Symbol.for key, so every bundle of the package
 * (and koa-sessionkit/auth) shares it.
 *
 * @example
 * // stores/call.ts draws every store call of a request from its budget:
 * const stored = await callStore("get", options.storeTimeout, () => store.get(key), { ctx, store });
 */
import { StoreUnavailableError } from "../errors.js";

const BUDGET = Symbol.for("koa-sessionkit.storeBudget");

type Carrier = { [BUDGET]?: StoreBudget };

export class StoreBudget {
  #spentMs = 0;
  /** Calls in flight, and when the first of them started: overlapping waits count once. */
  #active = 0;
  #since = 0;
  #failure: StoreUnavailableError | undefined;

  /** ms left of `limitMs` once this request's store time so far is taken off. */
  remainingMs(limitMs: number): number {
    const running = this.#active > 0 ? performance.now() - this.#since : 0;
    return limitMs - this.#spentMs - running;
  }

  /** The failure that ended this request's store access, if one did. */
  get failure(): StoreUnavailableError | undefined {
    return this.#failure;
  }

  /**
   * Admit one store call: what is left of `limitMs` for it. Throws, without admitting, when the budget
   * is used up or an earlier call of this request failed. Nothing is timed yet: a synchronous store
   * (MemoryStore) has answered before anything could wait, so its calls cost no clock reads; a call
   * that turns out asynchronous is timed from `waiting()` to `close()`.
   */
  open(operation: string, limitMs: number): number {
    if (this.#failure) throw new StoreUnavailableError(operation, this.#failure);
    const remaining = this.remainingMs(limitMs);
    if (remaining <= 0) throw this.#fail(new StoreUnavailableError(operation, undefined, true));
    return remaining;
  }

  /** An admitted call is waiting on the store (it answered with a promise); `close` follows when it settles. */
  waiting(): void {
    if (this.#active++ === 0) this.#since = performance.now();
  }

  /** A waiting call settled; with `error` when it failed (every later call then fails at once). */
  close(error?: unknown): void {
    if (--this.#active === 0) this.#spentMs += performance.now() - this.#since;
    if (error !== undefined) this.#fail(error);
  }

  /** An admitted call failed without waiting (the store threw): every later call fails at once. */
  failed(error: unknown): void {
    this.#fail(error);
  }

  #fail(error: unknown): unknown {
    this.#failure ??= error instanceof StoreUnavailableError ? error : new StoreUnavailableError("store call", error);
    return error;
  }
}

/** This request's budget, created on its first store call. */
export function storeBudget(ctx: object): StoreBudget {
  const carrier = ctx as Carrier;
  return (carrier[BUDGET] ??= new StoreBudget());
}
