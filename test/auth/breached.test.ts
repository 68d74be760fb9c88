/**
 * breachedPassword against a local range server: only the 5-character SHA-1 prefix is sent, the match
 * happens locally, padding lines are ignored, and every failure is "could not check" (undefined),
 * never a throw.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { breachedPassword, PasswordTooLongError } from "../../src/auth/index.js";
import { sha1Hex, startPwnedServer, type PwnedServer } from "../helpers/pwned-server.js";

const BREACHED = "correct horse battery staple";
const CLEAN = "a password nobody has ever leaked 7f3a";
let pwned: PwnedServer;

beforeAll(async () => {
  pwned = await startPwnedServer({ [BREACHED]: 3861493 });
});
afterAll(() => pwned.close());

describe("breachedPassword", () => {
  it("counts a breached password and answers 0 for an unknown one, sending only the prefix", async () => {
    pwned.mode = "ok";
    pwned.requests.length = 0;
    expect(await breachedPassword(BREACHED, { url: pwned.url })).toBe(3861493);
    expect(await breachedPassword(CLEAN, { url: pwned.url })).toBe(0);
    expect(pwned.requests.map((req) => req.url)).toEqual([`/range/${sha1Hex(BREACHED).slice(0, 5)}`, `/range/${sha1Hex(CLEAN).slice(0, 5)}`]);
    expect(pwned.requests[0]?.headers["add-padding"]).toBe("true");
  });

  it("answers undefined (could not check) on an error status, a non-answer, a timeout or a refused connection", async () => {
    pwned.mode = "500";
    expect(await breachedPassword(BREACHED, { url: pwned.url })).toBeUndefined();
    pwned.mode = "garbage";
    expect(await breachedPassword(BREACHED, { url: pwned.url })).toBeUndefined();
    pwned.mode = "hang";
    const started = Date.now();
    expect(await breachedPassword(BREACHED, { url: pwned.url, timeout: 200 })).toBeUndefined();
    // Bounded by the 200 ms given, with room for a loaded machine; the default timeout would fail this.
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await breachedPassword(BREACHED, { url: "http://127.0.0.1:1/range/" })).toBeUndefined();
  });

  it("refuses oversized and non-string passwords before hashing or asking", async () => {
    pwned.mode = "ok";
    pwned.requests.length = 0;
    await expect(breachedPassword("x".repeat(1025), { url: pwned.url })).rejects.toBeInstanceOf(PasswordTooLongError);
    await expect(breachedPassword(42 as unknown as string, { url: pwned.url })).rejects.toThrow(/needs the password as a string/);
    expect(pwned.requests).toHaveLength(0);
  });
});
