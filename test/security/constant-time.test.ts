/**
 * Constant-time comparison of secrets: the keyring compares HMAC-SHA256 signatures with
 * crypto.timingSafeEqual on full 32-byte digests, for every key it tries, never with `===` or
 * Buffer.equals. (Timing itself is too noisy to measure in CI; this checks the mechanism.)
 */
import { describe, expect, it, vi } from "vitest";

const calls = vi.hoisted(() => ({ lengths: [] as number[][] }));

vi.mock("node:crypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:crypto")>();
  return {
    ...original,
    default: original,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.lengths.push([a.byteLength, b.byteLength]);
      return original.timingSafeEqual(a, b);
    },
  };
});

const { Keyring } = await import("../../src/crypto/keyring.js");

const KEYS = ["ct-key-1-0123456789abcdef0123456789abcdef", "ct-key-2-0123456789abcdef0123456789abcdef", "ct-key-3-0123456789abcdef0123456789abcdef"];

describe("constant-time signature checks", () => {
  it("a wrong signature is compared against every key with timingSafeEqual on 32-byte digests", () => {
    const ring = new Keyring(KEYS);
    const good = ring.sign("koa.sess=abc");
    const wrong = (good[0] === "A" ? "B" : "A") + good.slice(1);
    calls.lengths = [];
    expect(ring.index("koa.sess=abc", wrong)).toBe(-1);
    expect(calls.lengths).toEqual([[32, 32], [32, 32], [32, 32]]);
  });

  it("a right signature verifies through timingSafeEqual too (no early string comparison)", () => {
    const ring = new Keyring(KEYS);
    const signed = new Keyring([KEYS[1] as string]).sign("koa.sess=abc");
    calls.lengths = [];
    expect(ring.index("koa.sess=abc", signed)).toBe(1);
    expect(calls.lengths).toEqual([[32, 32], [32, 32]]);
  });

  it("malformed signatures are refused on their public shape (length, encoding) before any comparison", () => {
    const ring = new Keyring(KEYS);
    calls.lengths = [];
    for (const sig of ["", "short", "x".repeat(44), "!".repeat(43)]) expect(ring.index("koa.sess=abc", sig)).toBe(-1);
    expect(calls.lengths).toEqual([]);
  });
});
