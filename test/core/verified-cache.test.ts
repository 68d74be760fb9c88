/** The per-middleware caches' eviction: bounded, keeps what is in use, never deletes entry by entry. */
import { describe, expect, it } from "vitest";
import { VerifiedCache } from "../../src/crypto/verified-cache.js";

describe("VerifiedCache", () => {
  it("holds at most max entries however many keys pass through", () => {
    const cache = new VerifiedCache<number>(100);
    for (let i = 0; i < 10_000; i++) {
      cache.set(`k${i}`, i);
      expect(cache.size).toBeLessThanOrEqual(100);
    }
    // The most recent half is certainly kept; the oldest keys are gone.
    for (let i = 9_951; i < 10_000; i++) expect(cache.get(`k${i}`)).toBe(i);
    expect(cache.get("k0")).toBeUndefined();
    expect(cache.get("k9000")).toBeUndefined();
  });

  it("keeps an entry that is read while new ones keep arriving (a returning browser's cookie)", () => {
    const cache = new VerifiedCache<string>(10);
    cache.set("busy", "kept");
    for (let i = 0; i < 1_000; i++) {
      cache.set(`new${i}`, "x");
      expect(cache.get("busy")).toBe("kept");
    }
    expect(cache.size).toBeLessThanOrEqual(10);
  });

  it("forgets an entry nobody reads once two generations have passed", () => {
    const cache = new VerifiedCache<number>(4);
    cache.set("idle", 1);
    for (let i = 0; i < 4; i++) cache.set(`other${i}`, i);
    expect(cache.get("idle")).toBeUndefined();
  });

  it("answers only what was set: a miss is undefined, falsy values are values", () => {
    const cache = new VerifiedCache<number>(8);
    expect(cache.get("absent")).toBeUndefined();
    cache.set("zero", 0);
    expect(cache.get("zero")).toBe(0);
  });

  it("offer keeps a key only from its second offer in a short while", () => {
    const cache = new VerifiedCache<number>(100);
    expect(cache.offer("returning", 1)).toBe(false);
    expect(cache.get("returning")).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.offer("returning", 1)).toBe(true);
    expect(cache.get("returning")).toBe(1);
  });

  it("offer keeps nothing for many keys offered once each (no churn past the cache's size)", () => {
    const cache = new VerifiedCache<number>(100);
    for (let i = 0; i < 5_000; i++) expect(cache.offer(`once-${i}-${(i * 2654435761) >>> 0}`, i)).toBe(false);
    expect(cache.size).toBe(0);
  });

  it("offer forgets a first offer once enough other keys came in between", () => {
    const cache = new VerifiedCache<number>(100);
    cache.offer("visitor-00000000", 1);
    // Other keys whose tags land everywhere overwrite the visitor's tag sooner or later.
    for (let i = 0; i < 20_000; i++) cache.offer(`k${i}`, i);
    expect(cache.offer("visitor-00000000", 1)).toBe(false);
  });

  it("a tag collision changes only what is kept: a lookup answers by the whole key", () => {
    const cache = new VerifiedCache<string>(100);
    // Same last eight characters, so the same tag: the second offer is kept under its own key only.
    cache.offer("aaaa-12345678", "a");
    expect(cache.offer("bbbb-12345678", "b")).toBe(true);
    expect(cache.get("bbbb-12345678")).toBe("b");
    expect(cache.get("aaaa-12345678")).toBeUndefined();
  });
});
