/**
 * With @opentelemetry/api installed but no SDK registered (the API often arrives as a dependency of a
 * dependency), store calls make no spans or samples at all; registering a tracer or a meter provider
 * later, as SDKs often are, turns measurement on from the next call.
 */
import { metrics, trace } from "@opentelemetry/api";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { measureStoreCall } from "../../src/telemetry.js";

afterEach(() => {
  trace.disable();
  metrics.disable();
});

describe("OpenTelemetry API without an SDK", () => {
  const store = new MemoryStore();

  it("measures nothing until a tracer provider is registered, then spans each call", () => {
    expect(measureStoreCall("get", store)).toBeUndefined();
    const spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
    const measurement = measureStoreCall("get", store);
    expect(measurement).toBeDefined();
    measurement?.end("ok");
    expect(spans.getFinishedSpans().map((span) => span.name)).toEqual(["koa-sessionkit.store.get"]);
    trace.disable();
    expect(measureStoreCall("get", store)).toBeUndefined();
  });

  it("a meter provider alone turns measurement on", () => {
    expect(measureStoreCall("set", store)).toBeUndefined();
    metrics.setGlobalMeterProvider(new MeterProvider());
    expect(measureStoreCall("set", store)).toBeDefined();
  });
});
