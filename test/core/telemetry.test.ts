/**
 * OpenTelemetry through the SDK's in-memory exporters: a span per store call and per login/logout,
 * with the store kind, outcome and duration, and the store latency histogram.
 */
import { metrics, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
} from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import request from "supertest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MemoryStore, type StoredSession } from "../../src/index.js";
import { buildApp, cookieHeader } from "../auth/helpers.js";

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 });
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const meterProvider = new MeterProvider({ readers: [reader] });

beforeAll(() => {
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
});
afterAll(async () => {
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  trace.disable();
  metrics.disable();
});
beforeEach(() => spans.reset());

function finished(): Array<{ name: string; attributes: Record<string, unknown>; status: number }> {
  return spans.getFinishedSpans().map((span) => ({ name: span.name, attributes: { ...span.attributes }, status: span.status.code }));
}

describe("OpenTelemetry", () => {
  it("a span per store call and per login/logout, with kind, outcome and duration", async () => {
    const { server } = buildApp({ session: { rolling: true } });
    const login = await request(server).post("/login?id=1").expect(200);
    const cookie = cookieHeader(login);
    await request(server).get("/whoami").set("Cookie", cookie).expect(200);
    await request(server).post("/cart").set("Cookie", cookie).expect(200);
    await request(server).post("/logout").set("Cookie", cookie).expect(204);

    const names = finished().map((span) => span.name);
    // login: no cookie yet, so no get and nothing to destroy; it saves, then rolling touches.
    expect(names).toEqual([
      "koa-sessionkit.store.set",
      "koa-sessionkit.login",
      "koa-sessionkit.store.touch",
      "koa-sessionkit.store.get",
      "koa-sessionkit.store.touch",
      "koa-sessionkit.store.get",
      "koa-sessionkit.store.merge",
      "koa-sessionkit.store.get",
      "koa-sessionkit.store.destroy",
      "koa-sessionkit.logout",
    ]);
    for (const span of finished()) {
      expect(span.attributes["sessionkit.outcome"]).toBe("ok");
      expect(typeof span.attributes["sessionkit.duration_ms"]).toBe("number");
      expect(span.status).toBe(SpanStatusCode.UNSET);
      if (span.name.includes(".store.")) expect(span.attributes["sessionkit.store.kind"]).toBe("memory");
    }
  });

  it("a failing store call is an error span, and login's span records the failure", async () => {
    class BrokenStore extends MemoryStore {
      override set(): void {
        throw new Error("disk full");
      }
    }
    const { app, server } = buildApp({ store: new BrokenStore() });
    app.silent = true;
    await request(server).post("/login?id=1").expect(503);
    const [store, login] = finished();
    expect(store).toMatchObject({ name: "koa-sessionkit.store.set", status: SpanStatusCode.ERROR });
    expect(store?.attributes["sessionkit.outcome"]).toBe("error");
    expect(login).toMatchObject({ name: "koa-sessionkit.login", status: SpanStatusCode.ERROR });
  });

  it("a store that does not answer is a timeout span", async () => {
    class HangingStore extends MemoryStore {
      override get(): StoredSession | null {
        // A store that never answers; the subclass keeps MemoryStore's synchronous signature.
        return new Promise(() => {}) as never;
      }
    }
    const { app, server } = buildApp({ store: new HangingStore(), session: { storeTimeout: 100 } });
    app.silent = true;
    const cookie = cookieHeader(await request(buildApp().server).post("/login"));
    spans.reset();
    await request(server).get("/whoami").set("Cookie", cookie).expect(503);
    expect(finished()).toEqual([
      { name: "koa-sessionkit.store.get", attributes: expect.objectContaining({ "sessionkit.outcome": "timeout", "sessionkit.store.kind": "memory" }), status: SpanStatusCode.ERROR },
    ]);
  });

  it("records the store latency histogram by operation, kind and outcome", async () => {
    const { server } = buildApp();
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    await request(server).get("/whoami").set("Cookie", cookie);
    await reader.forceFlush();
    const exported = metricExporter.getMetrics();
    const metric = exported.at(-1)?.scopeMetrics.flatMap((scope) => scope.metrics).find((m) => m.descriptor.name === "koa-sessionkit.store.duration") as
      | HistogramMetricData
      | undefined;
    expect(metric?.descriptor.unit).toBe("ms");
    const gets = metric?.dataPoints.find((point) => point.attributes["sessionkit.store.operation"] === "get");
    expect(gets?.attributes).toMatchObject({ "sessionkit.store.kind": "memory", "sessionkit.outcome": "ok" });
    expect(gets?.value.count).toBeGreaterThanOrEqual(1);
  });
});
