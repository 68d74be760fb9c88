/**
 * Every store call goes through here: sync or async results alike, bounded by a timeout, and any
 * failure turned into a StoreUnavailableError so the middleware can answer 503 instead of hanging
 * or leaking a driver's stack trace.
 */
import { StoreUnavailableError } from "../errors.js";

export async function callStore<T>(operation: string, timeoutMs: number, run: () => T | Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const pending = Promise.resolve().then(run);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(operation, undefined, true)), timeoutMs);
    });
    // A late rejection after the timeout won; swallow it so it is not an unhandled rejection.
    pending.catch(() => undefined);
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
