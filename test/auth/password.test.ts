import bcryptjs from "bcryptjs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashPassword, needsRehash, PasswordTooLongError, verifyDummy, verifyPassword } from "../../src/auth/index.js";
import { setArgon2LoaderForTests } from "../../src/auth/password.js";
import { scryptHash, scryptVerify } from "../../src/auth/scrypt.js";
import { Semaphore } from "../../src/auth/semaphore.js";

describe("argon2id", () => {
  it("hashes to a PHC string with the OWASP parameters and verifies", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(hash, "correct horse battery staple")).toBe(true);
    expect(await verifyPassword(hash, "correct horse battery stapl")).toBe(false);
    expect(needsRehash(hash)).toBe(false);
  });

  it("flags weaker argon2 hashes for rehash", () => {
    expect(needsRehash("$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")).toBe(true);
    expect(needsRehash("$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")).toBe(true);
    expect(needsRehash("$argon2id$v=19$m=19456,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")).toBe(true);
  });

  it("verifyDummy resolves false after a real verification", async () => {
    const started = performance.now();
    expect(await verifyDummy("anything")).toBe(false);
    expect(performance.now() - started).toBeGreaterThan(2);
  });
});

describe("no password in the body", () => {
  afterEach(() => setArgon2LoaderForTests());

  it("verifyPassword spends a real verification before resolving false, like verifyDummy for an unknown email", async () => {
    const real = await import("@node-rs/argon2");
    const calls: string[] = [];
    setArgon2LoaderForTests(async () => ({
      hash: real.hash,
      verify: (...args: Parameters<typeof real.verify>) => {
        calls.push(String(args[1]));
        return real.verify(...args);
      },
    }));
    const hash = await hashPassword("correct horse battery staple");
    for (const missing of [undefined, null, 42, { $ne: "" }]) {
      calls.length = 0;
      expect(await verifyPassword(hash, missing as unknown as string)).toBe(false);
      // The user's own hash was verified (against ""), as for a wrong password: same cost, same timing.
      expect(calls).toEqual([""]);
    }
    calls.length = 0;
    expect(await verifyDummy(undefined as unknown as string)).toBe(false);
    expect(calls).toHaveLength(1);
  });
});

describe("bcrypt (migrated hashes)", () => {
  it("verifies bcryptjs hashes, including $2y$, and always asks for a rehash", async () => {
    const hash = await bcryptjs.hash("hunter2", 4);
    expect(await verifyPassword(hash, "hunter2")).toBe(true);
    expect(await verifyPassword(hash, "hunter3")).toBe(false);
    expect(await verifyPassword(`$2y$${hash.slice(4)}`, "hunter2")).toBe(true);
    expect(needsRehash(hash)).toBe(true);
  });

  it("never lets a 72-byte prefix log in: a 73-byte password against a hash of its prefix is false", async () => {
    const long = "a".repeat(73);
    const hash = await bcryptjs.hash(long.slice(0, 72), 4);
    expect(await verifyPassword(hash, long.slice(0, 72))).toBe(true);
    expect(await verifyPassword(hash, long)).toBe(false);
  });
});

describe("limits and malformed input", () => {
  it("throws PasswordTooLongError for 1025 bytes, before hashing", async () => {
    const err = await hashPassword("x".repeat(1025)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PasswordTooLongError);
    expect(err).toMatchObject({ code: "ERR_SESSIONKIT_PASSWORD_TOO_LONG", status: 400 });
    expect((err as Error).message).toMatch(/^koa-sessionkit:/);
    await expect(verifyPassword("$argon2id$x", "é".repeat(513))).rejects.toMatchObject({ code: "ERR_SESSIONKIT_PASSWORD_TOO_LONG" });
    await expect(verifyDummy("x".repeat(1025))).rejects.toMatchObject({ code: "ERR_SESSIONKIT_PASSWORD_TOO_LONG" });
    expect(await hashPassword("x".repeat(1024))).toMatch(/^\$argon2id\$/);
  });

  it("resolves false (never throws) for malformed hashes", async () => {
    for (const hash of ["", "plain", "$argon2id$v=19$m=19456,t=2,p=1$bad", "$2b$10$short", "$scrypt$ln=17,r=8,p=1$!!$??", "$scrypt$ln=40,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhcw"]) {
      expect(await verifyPassword(hash, "pw")).toBe(false);
    }
    expect(await verifyPassword(null as unknown as string, "pw")).toBe(false);
    expect(await verifyPassword("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", 42 as unknown as string)).toBe(false);
    expect(needsRehash("garbage")).toBe(true);
  });
});

describe("scrypt fallback", () => {
  afterEach(() => setArgon2LoaderForTests());

  it("hashes and verifies with small parameters (internal module)", async () => {
    const hash = await scryptHash("pw", { ln: 10, r: 8, p: 1 });
    expect(hash).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    expect(await scryptVerify(hash, "pw")).toBe(true);
    expect(await scryptVerify(hash, "pw2")).toBe(false);
    expect(await verifyPassword(hash, "pw")).toBe(true);
    // weaker than the policy, and argon2 is available: rehash
    expect(needsRehash(hash)).toBe(true);
  });

  it("is used, with one warning, when @node-rs/argon2 cannot load", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    setArgon2LoaderForTests(() => Promise.reject(new Error("Cannot find native binding")));
    const hash = await hashPassword("fallback pw");
    expect(hash).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$/);
    expect(await verifyPassword(hash, "fallback pw")).toBe(true);
    expect(needsRehash(hash)).toBe(false);
    expect(await verifyDummy("x")).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/^koa-sessionkit: @node-rs\/argon2 could not be loaded \(Cannot find native binding\).*N=2\^17/);
    warn.mockRestore();
  });
});

describe("Semaphore", () => {
  it("runs at most `limit` tasks at once", async () => {
    const semaphore = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const task = () =>
      semaphore.run(async () => {
        peak = Math.max(peak, ++running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
      });
    await Promise.all(Array.from({ length: 7 }, task));
    expect(peak).toBe(2);
    expect(semaphore.active).toBe(0);
  });
});
