/**
 * In-process CPU profiling for `npm run bench -- --profile <case>`: the harness starts the V8
 * sampling profiler after login and warmup and stops it when the load ends, so the profile holds the
 * measured window only (no start-up, no module loading) and its time divides by the requests served.
 * Enabled by BENCH_PROFILE=1 (or =survivors: the heap sample then keeps only objects that outlived a
 * young-generation collection); the routes run before any session middleware.
 */
import { Session } from "node:inspector/promises";

/** Sampling interval, µs: fine enough for a few-µs function at tens of thousands of requests. */
const INTERVAL_US = 250;

let session: Session | undefined;

/** Handles /__profile/start and /__profile/stop; resolves the response body, or undefined for other paths. */
export async function profileRoute(path: string): Promise<unknown> {
  const mode = process.env.BENCH_PROFILE;
  if (mode !== "1" && mode !== "survivors") return undefined;
  if (path === "/__profile/start") {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: INTERVAL_US });
    await session.post("Profiler.start");
    // Every allocation, sampled (also those already collected): where the garbage comes from. With
    // "survivors", not those a scavenge collected: what is left was copied, and mostly promoted.
    // (Node's types predate the two include* flags; V8 11 accepts them.)
    const sampling = { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: mode !== "survivors" };
    await session.post("HeapProfiler.startSampling", sampling);
    return { started: true };
  }
  if (path === "/__profile/stop" && session) {
    const { profile } = await session.post("Profiler.stop");
    const { profile: heap } = await session.post("HeapProfiler.stopSampling");
    session.disconnect();
    session = undefined;
    return { cpu: profile, heap };
  }
  return undefined;
}
