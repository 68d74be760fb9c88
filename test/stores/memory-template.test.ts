/**
 * MemoryStore carries a flat session's parsed template through merges (stores/json.ts
 * mergedTemplate), so a session written on every request is copied, not parsed, on its next read.
 * The template must always read exactly as the stored text parses: same keys in the same order,
 * same values by Object.is (a -0, NaN, undefined or Date in a change must not survive as itself).
 */
import { describe, expect, it } from "vitest";
import { diffData } from "../../src/session/changes.js";
import { storedObject } from "../../src/session/save.js";
import type { SessionChanges, SessionMeta, StoredSession } from "../../src/stores/contract.js";
import { rawJsonOf } from "../../src/stores/json.js";
import { MemoryStore } from "../../src/stores/memory.js";

/** Deterministic PRNG so a failure replays. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const VALUES: unknown[] = ["a", "", "ü\u{1F600}", "\ud800", 0, 1, -1.5, 2 ** 53, -0, Number.NaN, Number.POSITIVE_INFINITY, true, false, null, undefined, new Date(0), { nested: 1 }, [1, 2]];
const KEYS = ["userId", "count", "role", "theme", "x", "y", "z"];

/** Same keys in the same order, and values equal by Object.is (recursively for nested JSON). */
function expectIdentical(got: unknown, want: unknown, path = "$"): void {
  if (typeof want !== "object" || want === null) {
    expect(Object.is(got, want), `${path}: ${String(got)} vs ${String(want)}`).toBe(true);
    return;
  }
  expect(typeof got, path).toBe("object");
  expect(Object.keys(got as object), path).toEqual(Object.keys(want));
  for (const key of Object.keys(want)) expectIdentical((got as Record<string, unknown>)[key], (want as Record<string, unknown>)[key], `${path}.${key}`);
}

describe("MemoryStore: a flat session's template follows its merges", () => {
  it("every read after a merge is what the merged text parses to (randomized, 4,000 merges)", () => {
    const random = prng(20261207);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const store = new MemoryStore();
    let carried = 0;
    for (let run = 0; run < 200; run++) {
      const key = `k${run}`;
      let data: Record<string, unknown> = { userId: "u1", count: 0 };
      let maxAge: number | "session" | undefined = 86_400_000;
      let meta: SessionMeta = { createdAt: 1, lastSeenAt: 1, userId: "u1" };
      let expire = 1_000;
      let text = JSON.stringify(storedObject(data, expire, maxAge, meta));
      store.set(key, JSON.parse(text) as StoredSession, 60_000);
      for (let step = 0; step < 20; step++) {
        const loaded = store.get(key) as StoredSession;
        expectIdentical(loaded, JSON.parse(text));
        expect(rawJsonOf(loaded)).toBe(text);
        // What a handler and the controller would do: change some keys, drop some, move the metadata.
        const before = { ...data };
        const after: Record<string, unknown> = { ...data };
        for (let n = Math.floor(random() * 3); n > 0; n--) after[pick(KEYS)] = pick(VALUES);
        if (random() < 0.2) delete after[pick(Object.keys(after).length > 0 ? Object.keys(after) : KEYS)];
        if (random() < 0.1) maxAge = pick([86_400_000, "session", undefined] as const);
        if (random() < 0.1) meta = { ...meta, role: pick(["admin", undefined, -0, Number.NaN] as unknown as string[]) };
        expire += 1_000;
        meta = { ...meta, lastSeenAt: expire };
        const stored = storedObject(after, expire, maxAge, meta);
        const result = JSON.stringify(stored);
        const changes: SessionChanges = diffData(before, after, { _expire: stored._expire, _maxAge: stored._maxAge, _session: stored._session, _sk: stored._sk });
        changes.base = text;
        changes.result = result;
        expect(store.merge(key, changes, 60_000)).toBe(true);
        // What a reader gets next, twice (the second read copies the template when there is one).
        for (let read = 0; read < 2; read++) {
          const got = store.get(key) as StoredSession;
          expectIdentical(got, JSON.parse(result));
          expect(rawJsonOf(got)).toBe(result);
        }
        text = result;
        data = JSON.parse(JSON.stringify(after)) as Record<string, unknown>;
        if (Object.values(data).every((value) => typeof value !== "object" || value === null)) carried++;
      }
    }
    // Most merges kept the session flat, so the carried template was exercised, not just the parse.
    expect(carried).toBeGreaterThan(1_000);
  });

  it("a read never aliases the template: mutating one read leaves the next as stored", () => {
    const store = new MemoryStore();
    const base = JSON.stringify({ _expire: 5, _sk: { createdAt: 1, lastSeenAt: 1 }, userId: "u1", count: 1 });
    store.set("k", JSON.parse(base) as StoredSession, 60_000);
    store.get("k");
    const result = JSON.stringify({ _expire: 6, _sk: { createdAt: 1, lastSeenAt: 2 }, userId: "u1", count: 2 });
    store.merge("k", { set: { count: 2 }, unset: [], reserved: { _expire: 6, _sk: { createdAt: 1, lastSeenAt: 2 } }, base, result }, 60_000);
    const first = store.get("k") as StoredSession & { count: number; _sk: { lastSeenAt: number } };
    first.count = 99;
    first._sk.lastSeenAt = 99;
    expect(store.get("k")).toEqual(JSON.parse(result));
  });
});
