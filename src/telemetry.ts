/**
 * OpenTelemetry, when the app has `@opentelemetry/api` installed (an optional peer dependency).
 *
 * - Spans: `koa-sessionkit.store.get|set|merge|destroy|touch|listByUser|destroyByUser` around every
 *   store call, and `koa-sessionkit.login` / `koa-sessionkit.logout`, as children of whatever span
 *   is active (usually the HTTP request's). Attributes: `sessionkit.store.kind`,
 *   `sessionkit.outcome` ("ok", "error" or "timeout") and `sessionkit.duration_ms`.
 * - Metric: the histogram `koa-sessionkit.store.duration` (ms), by `sessionkit.store.operation`,
 *   `sessionkit.store.kind` and `sessionkit.outcome`.
 *
 * Without the package nothing is loaded: the first store call tries to resolve it once, and from
 * then on each call costs one comparison. With the package but no SDK registered for traces or
 * metrics, store calls start no span and record nothing (two provider lookups per call);
 * login/logout still go through the API's no-op tracer. The types below are the few members used, written out so the
 * published declarations never name the optional package.
 */
import { createRequire } from "node:module";

interface Attributes {
  [key: string]: string | number;
}
interface OtelSpan {
  setAttributes(attributes: Attributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}
interface OtelHistogram {
  record(value: number, attributes?: Attributes): void;
}
interface OtelMeterProvider {
  getMeter(name: string): { createHistogram(name: string, options?: { unit?: string; description?: string }): OtelHistogram };
}
interface OtelApi {
  trace: {
    getTracer(name: string): { startSpan(name: string, options?: { attributes?: Attributes }, context?: unknown): OtelSpan };
    getTracerProvider(): { getDelegate?(): unknown };
  };
  context: { active(): unknown };
  metrics: { getMeterProvider(): OtelMeterProvider };
  SpanStatusCode: { ERROR: number };
  ProxyTracerProvider: new () => { getDelegate(): unknown };
  createNoopMeter(): unknown;
}

export type Outcome = "ok" | "error" | "timeout";

/** A started measurement; `end` records the span and the histogram sample. */
export interface Measurement {
  end(outcome: Outcome): void;
}

const TRACER_NAME = "koa-sessionkit";

let api: OtelApi | null | undefined;
let histogram: { provider: OtelMeterProvider; instrument: OtelHistogram } | undefined;
/** The meter provider last looked at, and whether it is the API's no-op one (no SDK registered). */
let meters: { provider: OtelMeterProvider; noop: boolean } | undefined;
let noopTracerProvider: unknown;

/** The OpenTelemetry API, or null when it is not installed. Resolved once per process. */
function otel(): OtelApi | null {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)("@opentelemetry/api") as OtelApi;
    } catch {
      api = null;
    }
  }
  return api;
}

/** The meter provider can be registered after the first call (SDKs often start late): follow it. */
function storeHistogram(otelApi: OtelApi): OtelHistogram {
  const provider = otelApi.metrics.getMeterProvider();
  if (histogram?.provider !== provider) {
    const instrument = provider.getMeter(TRACER_NAME).createHistogram("koa-sessionkit.store.duration", {
      unit: "ms",
      description: "Duration of koa-sessionkit session store calls",
    });
    histogram = { provider, instrument };
  }
  return histogram.instrument;
}

function start(otelApi: OtelApi, name: string, attributes: Attributes): { span: OtelSpan; started: number } {
  const span = otelApi.trace.getTracer(TRACER_NAME).startSpan(name, { attributes }, otelApi.context.active());
  return { span, started: performance.now() };
}

function finish(otelApi: OtelApi, span: OtelSpan, started: number, outcome: Outcome): number {
  const duration = performance.now() - started;
  span.setAttributes({ "sessionkit.outcome": outcome, "sessionkit.duration_ms": duration });
  if (outcome !== "ok") span.setStatus({ code: otelApi.SpanStatusCode.ERROR, message: outcome });
  span.end();
  return duration;
}

/**
 * True when an SDK is registered for traces or metrics. With only the API installed (it often comes
 * in as a dependency of a dependency) every span and sample would be a no-op that still costs
 * objects and clock reads on each store call, so none is made. Checked on each call, because SDKs
 * are often registered after the first request.
 */
function sdkRegistered(otelApi: OtelApi): boolean {
  noopTracerProvider ??= new otelApi.ProxyTracerProvider().getDelegate();
  const tracing = otelApi.trace.getTracerProvider();
  if (typeof tracing.getDelegate !== "function" || tracing.getDelegate() !== noopTracerProvider) return true;
  const provider = otelApi.metrics.getMeterProvider();
  if (meters?.provider !== provider) meters = { provider, noop: provider.getMeter(TRACER_NAME) === otelApi.createNoopMeter() };
  return !meters.noop;
}

/** Start measuring one store call; undefined (nothing to do) without OpenTelemetry or without an SDK. */
export function measureStoreCall(operation: string, store: object | undefined): Measurement | undefined {
  const otelApi = otel();
  if (!otelApi || !sdkRegistered(otelApi)) return undefined;
  const kind = storeKind(store);
  const { span, started } = start(otelApi, `koa-sessionkit.store.${operation}`, { "sessionkit.store.kind": kind });
  return {
    end(outcome) {
      const duration = finish(otelApi, span, started, outcome);
      storeHistogram(otelApi).record(duration, { "sessionkit.store.operation": operation, "sessionkit.store.kind": kind, "sessionkit.outcome": outcome });
    },
  };
}

/** Run `work` inside a `koa-sessionkit.<name>` span (login, logout); plain `work()` without OpenTelemetry. */
export async function traced<T>(name: string, work: () => Promise<T>): Promise<T> {
  const otelApi = otel();
  if (!otelApi) return work();
  const { span, started } = start(otelApi, `koa-sessionkit.${name}`, {});
  try {
    const result = await work();
    finish(otelApi, span, started, "ok");
    return result;
  } catch (error) {
    finish(otelApi, span, started, (error as { timedOut?: unknown } | null)?.timedOut === true ? "timeout" : "error");
    throw error;
  }
}

const KINDS: Record<string, string> = { MemoryStore: "memory", RedisStore: "redis", PostgresStore: "postgres", SqliteStore: "sqlite" };
const kinds = new WeakMap<object, string>();

/**
 * A short name for a store in telemetry: "memory", "redis", "postgres" or "sqlite" for the built-in
 * stores and their subclasses, a store's own string `kind` property, else its class name.
 */
export function storeKind(store: object | undefined): string {
  if (!store) return "unknown";
  let kind = kinds.get(store);
  if (kind === undefined) {
    kind = findKind(store);
    kinds.set(store, kind);
  }
  return kind;
}

function findKind(store: object): string {
  const declared = (store as { kind?: unknown }).kind;
  if (typeof declared === "string") return declared;
  let own: string | undefined;
  for (let proto = Object.getPrototypeOf(store) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name !== "string") continue;
    const builtIn = KINDS[name];
    if (builtIn) return builtIn;
    own ??= name;
  }
  return own ?? "custom";
}
