/**
 * A store for middleware tests: wraps another store (a MemoryStore by default), counts every call,
 * remembers every key it was handed, and can be told to fail (reject) or hang (never settle) per
 * operation, to drive the 503 paths.
 */
import { MemoryStore } from "../../src/stores/memory.js";
import type {
  MaxAge,
  SessionChanges,
  SessionStore,
  StoreDestroyOptions,
  StoreGetOptions,
  StoreSetOptions,
  StoredSession,
} from "../../src/stores/contract.js";

export type StoreOp = "get" | "set" | "destroy" | "touch" | "merge";
export type FailureMode = "reject" | "throw" | "hang";

export interface CountingStoreOptions {
  /** The store that really keeps the data. Default: a new MemoryStore. */
  inner?: SessionStore;
  /** Expose touch (when the inner store has it). Default true. */
  touch?: boolean;
  /** Expose merge (when the inner store has it). Default true. */
  merge?: boolean;
}

export class CountingStore implements SessionStore {
  readonly inner: SessionStore;
  readonly calls: Record<StoreOp, number> = { get: 0, set: 0, destroy: 0, touch: 0, merge: 0 };
  /** Every key any method was called with, in first-seen order. */
  readonly keys = new Set<string>();
  /** The last options object each operation received. */
  readonly lastOptions: Partial<Record<StoreOp, unknown>> = {};
  /** The store keys passed to set, in call order. */
  readonly setKeys: string[] = [];
  readonly #failures = new Map<StoreOp, { mode: FailureMode; error: Error }>();

  touch?: (key: string, session: StoredSession, maxAge: MaxAge | undefined, options: StoreSetOptions) => Promise<void>;
  merge?: (key: string, changes: SessionChanges, maxAge: MaxAge | undefined, options: StoreSetOptions) => Promise<boolean>;

  constructor(options: CountingStoreOptions = {}) {
    this.inner = options.inner ?? new MemoryStore();
    const inner = this.inner;
    if (options.touch !== false && inner.touch) {
      this.touch = (key, session, maxAge, opts) =>
        this.#run("touch", key, opts, async () => inner.touch?.(key, session, maxAge, opts));
    }
    if (options.merge !== false && inner.merge) {
      this.merge = (key, changes, maxAge, opts) =>
        this.#run("merge", key, opts, async () => (await inner.merge?.(key, changes, maxAge, opts)) ?? false);
    }
  }

  get(key: string, maxAge: MaxAge | undefined, options: StoreGetOptions) {
    return this.#run("get", key, options, () => this.inner.get(key, maxAge, options));
  }

  set(key: string, session: StoredSession, maxAge: MaxAge | undefined, options: StoreSetOptions) {
    this.setKeys.push(key);
    return this.#run("set", key, options, () => this.inner.set(key, session, maxAge, options));
  }

  destroy(key: string, options: StoreDestroyOptions) {
    return this.#run("destroy", key, options, () => this.inner.destroy(key, options));
  }

  /** Make `op` reject (default), throw synchronously, or never settle, until recover(). */
  failOn(ops: StoreOp | StoreOp[], mode: FailureMode = "reject", error = new Error("connect ECONNREFUSED 10.0.0.7:6379 (secret-host)")): void {
    for (const op of Array.isArray(ops) ? ops : [ops]) this.#failures.set(op, { mode, error });
  }

  recover(): void {
    this.#failures.clear();
  }

  resetCounts(): void {
    for (const op of Object.keys(this.calls) as StoreOp[]) this.calls[op] = 0;
  }

  /** set + merge: every call that writes session data. */
  get writes(): number {
    return this.calls.set + this.calls.merge;
  }

  get total(): number {
    return Object.values(this.calls).reduce((a, b) => a + b, 0);
  }

  /** What the inner store holds now under a key, without counting the read. */
  async peek(key: string): Promise<StoredSession | null | undefined> {
    // A store's get is typed unknown (koa-session stores return anything); ours return StoredSession.
    return (await this.inner.get(key, undefined, {})) as StoredSession | null | undefined;
  }

  /** Every key seen and the JSON text the inner store returns for it (live entries only). */
  async dump(): Promise<Array<[string, string]>> {
    const out: Array<[string, string]> = [];
    for (const key of this.keys) {
      const value = await this.peek(key);
      if (value) out.push([key, JSON.stringify(value)]);
    }
    return out;
  }

  #run<T>(op: StoreOp, key: string, options: unknown, call: () => T): T | Promise<never> {
    this.calls[op]++;
    this.keys.add(key);
    this.lastOptions[op] = options;
    const failure = this.#failures.get(op);
    if (failure) {
      if (failure.mode === "hang") return new Promise<never>(() => undefined);
      if (failure.mode === "throw") throw failure.error;
      return Promise.reject(failure.error);
    }
    return call();
  }
}
