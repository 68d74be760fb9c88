/**
 * Every store call goes through here: sync or async results alike, bounded by a timeout, and any
 * failure turned into a StoreUnavailableError so the middleware can answer 503 instead of hanging
 * or leaking a driver's stack trace.
 */
import { StoreUnavailableError } from "../errors.js";

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

export function callStore<T>(operation: string, timeoutMs: number, run: () => T | Promise<T>): Promise<Awaited<T>> {
  let result: T | Promise<T>;
  try {
    result = run();
  } catch (err) {
    return Promise.reject(new StoreUnavailableError(operation, err));
  }
  // A synchronous store (MemoryStore) answered already: no timer, no race.
  if (!isThenable(result)) return Promise.resolve(result as Awaited<T>);
  return race(operation, timeoutMs, result as Promise<Awaited<T>>);
}

async function race<T>(operation: string, timeoutMs: number, pending: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(operation, undefined, true)), timeoutMs);
    });
    // A late rejection after the timeout won; swallow it so it is not an unhandled rejection.
    Promise.resolve(pending).catch(() => undefined);
    return await Promise.race([pending, timeout]);
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw err;
    throw new StoreUnavailableError(operation, err);
  } finally {
    clearTimeout(timer);
  }
}

export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return (err as { code?: unknown } | null)?.code === "ERR_SESSIONKIT_STORE_UNAVAILABLE";
}
