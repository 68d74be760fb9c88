/** Pipelined compare-and-set: parallel writers to one key all land, in order, without retries. */
import { describe, expect, it } from "vitest";
import { CasChain, MAX_ATTEMPTS, MergeContendedError, type CasMerge } from "../../src/stores/cas-chain.js";
import type { StoredSession } from "../../src/stores/contract.js";

/** A one-key "server" that applies compare-and-set commands in the order they were sent. */
function fakeServer(initial: string | null) {
  const state = { text: initial, casCalls: 0, reads: 0 };
  const chain = new CasChain(
    async (_key, expected, next) => {
      state.casCalls++;
      await new Promise((resolve) => setImmediate(resolve)); // a round trip; order is preserved
      if (state.text === null) return 0;
      if (state.text !== expected) return state.text;
      state.text = next;
      return 1;
    },
    async () => {
      state.reads++;
      return state.text;
    },
  );
  return { state, chain };
}

const setKey = (name: string, base: string): CasMerge => {
  const change = (stored: StoredSession) => void (stored[name] = true);
  const result = JSON.parse(base) as StoredSession;
  change(result);
  return { change, ttl: 1000, hint: { base, result: JSON.stringify(result) } };
};

describe("CasChain", () => {
  it("pipelines parallel writers that loaded the same text: every change lands, one CAS each", async () => {
    const base = JSON.stringify({ _expire: 1 });
    const { state, chain } = fakeServer(base);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => chain.merge("k", setKey(`k${i}`, base))));
    expect(results.every(Boolean)).toBe(true);
    const final = JSON.parse(state.text as string) as Record<string, unknown>;
    for (let i = 0; i < 10; i++) expect(final[`k${i}`]).toBe(true);
    expect(state.casCalls).toBe(10);
    expect(state.reads).toBe(0);
  });

  it("recovers when another process wrote first: stale links retry from the text the server returned", async () => {
    const base = JSON.stringify({ _expire: 1 });
    const { state, chain } = fakeServer(JSON.stringify({ _expire: 1, other: "process" }));
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => chain.merge("k", setKey(`k${i}`, base))));
    expect(results.every(Boolean)).toBe(true);
    const final = JSON.parse(state.text as string) as Record<string, unknown>;
    expect(final.other).toBe("process");
    for (let i = 0; i < 5; i++) expect(final[`k${i}`]).toBe(true);
  });

  it("never recreates a destroyed entry: every writer resolves false", async () => {
    const base = JSON.stringify({ _expire: 1 });
    const { state, chain } = fakeServer(null);
    const results = await Promise.all(Array.from({ length: 3 }, (_, i) => chain.merge("k", setKey(`k${i}`, base))));
    expect(results).toEqual([false, false, false]);
    expect(state.text).toBeNull();
  });

  it("50 writers whose loaded text is stale retry as one new chain: at most 2 compare-and-sets per write", async () => {
    // Every request loaded `stale`, but a write landed since (a stale read, or a script-cache miss
    // that reordered commands). Retries that raced each other needed O(n²) attempts here.
    const stale = JSON.stringify({ _expire: 1 });
    const { state, chain } = fakeServer(JSON.stringify({ _expire: 1, landed: true }));
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => chain.merge("k", setKey(`k${i}`, stale))));
    expect(results.every(Boolean)).toBe(true);
    const final = JSON.parse(state.text as string) as Record<string, unknown>;
    expect(final.landed).toBe(true);
    for (let i = 0; i < 50; i++) expect(final[`k${i}`]).toBe(true);
    expect(state.casCalls).toBeLessThanOrEqual(100);
    expect(state.reads).toBe(0);
  });

  it("a retry joins the chain that writers arriving meanwhile build: no writer of this process loses to another", async () => {
    const base = JSON.stringify({ _expire: 1 });
    const { state, chain } = fakeServer(JSON.stringify({ _expire: 1, other: "process" }));
    // A first wave with a stale text, then waves that join while the retries are in flight.
    const waves: Promise<boolean>[] = [];
    for (let wave = 0; wave < 5; wave++) {
      for (let i = 0; i < 10; i++) waves.push(chain.merge("k", setKey(`w${wave}k${i}`, base)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await Promise.all(waves)).every(Boolean)).toBe(true);
    const final = JSON.parse(state.text as string) as Record<string, unknown>;
    for (let wave = 0; wave < 5; wave++) for (let i = 0; i < 10; i++) expect(final[`w${wave}k${i}`]).toBe(true);
    expect(state.casCalls).toBeLessThanOrEqual(2 * 50);
  });

  it("gives up after MAX_ATTEMPTS when other processes keep winning, with a coded error and nothing written", async () => {
    let casCalls = 0;
    let version = 0;
    const chain = new CasChain(
      async () => {
        casCalls++;
        // Another process writes between every read and every compare-and-set.
        version++;
        return JSON.stringify({ _expire: 1, version });
      },
      async () => JSON.stringify({ _expire: 1, version }),
    );
    const failure = await chain.merge("k", setKey("mine", JSON.stringify({ _expire: 1 }))).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MergeContendedError);
    expect((failure as MergeContendedError).code).toBe("ERR_SESSIONKIT_MERGE_CONTENDED");
    expect((failure as MergeContendedError).message).toMatch(/^koa-sessionkit: .*retry the request/);
    expect(casCalls).toBe(MAX_ATTEMPTS);
  });
});
