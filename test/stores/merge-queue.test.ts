/** Group commit: concurrent writers to one key share a write, in arrival order; destroy wins for all. */
import { describe, expect, it } from "vitest";
import { MergeQueue, type MergeJob } from "../../src/stores/merge-queue.js";
import type { StoredSession } from "../../src/stores/contract.js";

function job(name: string, value: number): MergeJob {
  return { maxAge: 1000, change: (stored: StoredSession) => void (stored[name] = value) };
}

describe("MergeQueue", () => {
  it("batches writers that arrive while a write is in flight and applies them in order", async () => {
    const batches: number[] = [];
    const stored: StoredSession = {};
    let release: () => void = () => undefined;
    const previous: (string | undefined)[] = [];
    const queue = new MergeQueue(async (_key, jobs, last) => {
      batches.push(jobs.length);
      previous.push(last);
      if (batches.length === 1) await new Promise<void>((resolve) => (release = resolve));
      for (const each of jobs) each.change(stored);
      return JSON.stringify(stored);
    });
    const first = queue.run("k", job("a", 1));
    const rest = [queue.run("k", job("b", 2)), queue.run("k", job("b", 3)), queue.run("k", job("c", 4))];
    release();
    expect(await Promise.all([first, ...rest])).toEqual([true, true, true, true]);
    expect(batches).toEqual([1, 3]);
    expect(stored).toEqual({ a: 1, b: 3, c: 4 });
    // The second batch is told what the first one wrote, so it can skip reading the entry.
    expect(previous).toEqual([undefined, '{"a":1}']);
  });

  it("resolves every job of a batch false when the entry is gone, and rejects them all on error", async () => {
    let mode: "gone" | "error" = "gone";
    const queue = new MergeQueue(async () => {
      if (mode === "error") throw new Error("down");
      return false;
    });
    expect(await Promise.all([queue.run("k", job("a", 1)), queue.run("k", job("b", 2))])).toEqual([false, false]);
    mode = "error";
    const results = await Promise.allSettled([queue.run("k", job("a", 1)), queue.run("k", job("b", 2))]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected"]);
  });

  it("keeps different keys independent", async () => {
    const seen: string[] = [];
    const queue = new MergeQueue(async (key) => {
      seen.push(key);
      return "{}";
    });
    await Promise.all([queue.run("x", job("a", 1)), queue.run("y", job("a", 1))]);
    expect(seen.sort()).toEqual(["x", "y"]);
  });
});
