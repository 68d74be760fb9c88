/**
 * Every store call goes through here: sync or async results alike, bounded by a timeout, and any
 * failure turned into a StoreUnavailableError so the middleware can answer 503 instead of hanging
 * or leaking a driver's stack trace. It is also the one place that observes store calls: a failure
 * is a `store.error` audit event, and with OpenTelemetry installed each call is a span and a
 * histogram sample (telemetry.ts).
 */
import type { Context } from "koa";
import { StoreUnavailableError } from "../errors.js";
import { auditEvent } from "../events.js";
import { measureStoreCall, type Measurement } from "../telemetry.js";

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** Who is calling: the request (for the audit event) and the store (for its kind in telemetry). */
export interface StoreCallScope {
  ctx?: Context | undefined;
  store?: object | undefined;
}

export function callStore<T>(operation: string, timeoutMs: number, run: () => T | Promise<T>, scope?: StoreCallScope): Promise<Awaited<T>> {
  const measurement = measureStoreCall(operation, scope?.store);
  let result: T | Promise<T>;
  try {
    result = run();
  } catch (err) {
    return Promise.reject(failed(new StoreUnavailableError(operation, err), measurement, scope));
  }
  // A synchronous store (MemoryStore) answered already: no timer, no race.
  if (!isThenable(result)) {
    measurement?.end("ok");
    return Promise.resolve(result as Awaited<T>);
  }
  return race(operation, timeoutMs, result as Promise<Awaited<T>>, measurement, scope);
}

async function race<T>(operation: string, timeoutMs: number, pending: Promise<T>, measurement: Measurement | undefined, scope: StoreCallScope | undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(operation, undefined, true)), timeoutMs);
    });
    // A late rejection after the timeout won; swallow it so it is not an unhandled rejection.
    Promise.resolve(pending).catch(() => undefined);
    const value = await Promise.race([pending, timeout]);
    measurement?.end("ok");
    return value;
  } catch (err) {
    throw failed(err instanceof StoreUnavailableError ? err : new StoreUnavailableError(operation, err), measurement, scope);
  } finally {
    clearTimeout(timer);
  }
}

function failed(err: StoreUnavailableError, measurement: Measurement | undefined, scope: StoreCallScope | undefined): StoreUnavailableError {
  measurement?.end(err.timedOut ? "timeout" : "error");
  if (scope?.ctx) auditEvent(scope.ctx, "store.error", { reason: `${err.operation} ${err.timedOut ? "timed out" : "failed"}` });
  return err;
}

export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return (err as { code?: unknown } | null)?.code === "ERR_SESSIONKIT_STORE_UNAVAILABLE";
}
