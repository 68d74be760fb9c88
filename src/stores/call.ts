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
import { storeBudget, type StoreBudget } from "./deadline.js";
import { pendingCalls, type PendingCall } from "./timeouts.js";

export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** Who is calling: the request (for the audit event) and the store (for its kind in telemetry). */
export interface StoreCallScope {
  ctx?: Context | undefined;
  store?: object | undefined;
}

/**
 * `storeCall` as a promise. With `scope.ctx` the call draws on that request's store-time budget and a
 * failure is its `store.error` event; without one it is bounded by `timeoutMs` alone.
 */
export function callStore<T>(operation: string, timeoutMs: number, run: () => T | Promise<T>, scope?: StoreCallScope): Promise<Awaited<T>> {
  const result = storeCall(scope?.ctx, operation, timeoutMs, run, scope?.store);
  return isThenable(result) ? result : Promise.resolve(result);
}

/**
 * One store call of a request, drawn from its store-time budget (deadline.ts) when `ctx` is given:
 * bounded by what is left of the budget, observed, failures mapped. A synchronous store's answer
 * comes back as is (no promise, no timer: MemoryStore), an asynchronous one as a promise raced
 * against the remaining time. `await` the result only when it is a promise (see `isThenable`).
 */
export function storeCall<T>(
  ctx: Context | undefined,
  operation: string,
  limitMs: number,
  run: () => T | Promise<T>,
  store?: object,
  auditCtx: Context | undefined = ctx,
): Awaited<T> | Promise<Awaited<T>> {
  const budget = ctx ? storeBudget(ctx) : undefined;
  let remaining = limitMs;
  if (budget) {
    try {
      remaining = budget.open(operation, limitMs);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const measurement = measureStoreCall(operation, store);
  let result: T | Promise<T>;
  try {
    result = run();
  } catch (err) {
    if (corruptEntry(operation, err)) return readAsMissing(measurement, auditCtx) as Awaited<T>;
    const error = failed(new StoreUnavailableError(operation, err), measurement, auditCtx);
    budget?.failed(error);
    return Promise.reject(error);
  }
  // A synchronous store (MemoryStore) answered already: no timer, no race, nothing to time.
  if (!isThenable(result)) {
    measurement?.end("ok");
    return result as Awaited<T>;
  }
  budget?.waiting();
  return race(operation, remaining, result as PromiseLike<Awaited<T>>, measurement, auditCtx, budget);
}

/**
 * The store's answer or, after `timeoutMs`, a timeout: one promise, settled once. The timeout is a
 * entry in the process's one heap of pending calls (timeouts.ts), not a timer of its own.
 */
function race<T>(
  operation: string,
  timeoutMs: number,
  pending: PromiseLike<T>,
  measurement: Measurement | undefined,
  ctx: Context | undefined,
  budget: StoreBudget | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const call = new RacedCall(operation, performance.now() + timeoutMs, measurement, ctx, budget, resolve, reject);
    pendingCalls.add(call);
    // A late answer or rejection after the timeout won is dropped (never an unhandled rejection).
    try {
      pending.then(
        (value) => call.answered(value),
        (err: unknown) => call.fail(err),
      );
    } catch (err) {
      // A thenable whose then() throws: a failed store call like any other (503), timeout dropped.
      call.fail(err);
    }
  });
}

class RacedCall<T> implements PendingCall {
  slot = -1;
  #settled = false;

  constructor(
    readonly operation: string,
    readonly at: number,
    readonly measurement: Measurement | undefined,
    readonly ctx: Context | undefined,
    readonly budget: StoreBudget | undefined,
    readonly resolve: (value: T) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  expire(): void {
    this.fail(new StoreUnavailableError(this.operation, undefined, true));
  }

  answered(value: T): void {
    if (this.#settled) return;
    this.#settled = true;
    pendingCalls.remove(this);
    this.measurement?.end("ok");
    this.budget?.close();
    this.resolve(value);
  }

  fail(err: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    pendingCalls.remove(this);
    if (corruptEntry(this.operation, err)) {
      this.budget?.close();
      this.resolve(readAsMissing(this.measurement, this.ctx) as T);
      return;
    }
    const error = failed(err instanceof StoreUnavailableError ? err : new StoreUnavailableError(this.operation, err), this.measurement, this.ctx);
    this.budget?.close(error);
    this.reject(error);
  }
}

/**
 * What a session read answers when the store threw SyntaxError: it could not parse what it holds (a
 * `JSON.parse` in get). One corrupt entry is not an outage: the request goes on without a session
 * (a write gives it a new id), its store budget stays good, and the `store.error` audit event says
 * what happened; a 503 would lock that cookie out on every request. The cookie is kept, not
 * cleared (load.ts), because a SyntaxError can also be an outage in disguise (an HTTP store parsing a
 * proxy's error page), and clearing every cookie then would sign everyone out.
 */
export const CORRUPT_ENTRY: unique symbol = Symbol("koa-sessionkit.corruptEntry");

function corruptEntry(operation: string, err: unknown): boolean {
  return operation === "get" && err instanceof SyntaxError;
}

function readAsMissing(measurement: Measurement | undefined, ctx: Context | undefined): typeof CORRUPT_ENTRY {
  measurement?.end("error");
  if (ctx) auditEvent(ctx, "store.error", { reason: "get found an entry that does not parse; read as no session, cookie kept" });
  return CORRUPT_ENTRY;
}

function failed(err: StoreUnavailableError, measurement: Measurement | undefined, ctx: Context | undefined): StoreUnavailableError {
  measurement?.end(err.timedOut ? "timeout" : "error");
  if (ctx) auditEvent(ctx, "store.error", { reason: `${err.operation} ${err.timedOut ? "timed out" : "failed"}` });
  return err;
}

export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return (err as { code?: unknown } | null)?.code === "ERR_SESSIONKIT_STORE_UNAVAILABLE";
}
