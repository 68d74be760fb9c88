/**
 * Security property: a cookie-mode session is encrypted, not just encoded (koa-session's cookie mode
 * is base64 JSON anyone can read). Decoding the cookie shows none of the session's text, and the
 * nonce is fresh for every seal, so the same session sealed twice gives unrelated cookies.
 */
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cookieApp, cookieHeader, cookieValue, KEY_A, KEY_B, SECRET } from "./helpers.js";

/** Strings the /login session holds, as values and as field names. */
const PLAINTEXT = ["alice", SECRET, "user", "secret", "_expire", "_maxAge", "_sk", "createdAt", "lastSeenAt"];

function decoded(token: string): Buffer {
  expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
  return Buffer.from(token.slice(3), "base64url");
}

describe("cookie mode: the session is encrypted", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("base64url-decoding the sealed cookie shows none of the session's plaintext", async () => {
    const { app } = cookieApp([KEY_A, KEY_B]);
    const token = cookieValue(await request(app.callback()).get("/login"));
    const bytes = decoded(token);
    for (const text of PLAINTEXT) {
      expect(bytes.includes(Buffer.from(text, "utf8")), `"${text}" in the decoded cookie`).toBe(false);
      expect(bytes.includes(Buffer.from(text, "utf16le")), `"${text}" (UTF-16) in the decoded cookie`).toBe(false);
      expect(token.includes(text), `"${text}" in the raw cookie`).toBe(false);
      // Nor base64 of it, at any of the three alignments, as koa-session's cookie would show.
      for (let shift = 0; shift < 3; shift++) {
        const b64 = Buffer.from("xx".slice(0, shift) + text).toString("base64url").slice(4).slice(0, -2);
        if (b64.length >= 4) expect(token.includes(b64), `base64 of "${text}" in the raw cookie`).toBe(false);
      }
    }
    for (const key of [KEY_A, KEY_B]) expect(bytes.includes(Buffer.from(key))).toBe(false);
  });

  it("the same session sealed twice, at the same instant, gives different cookies that both open", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.UTC(2030, 0, 1));
    const { app } = cookieApp([KEY_A]);
    const first = cookieValue(await request(app.callback()).get("/login"));
    const second = cookieValue(await request(app.callback()).get("/login"));
    expect(first).not.toBe(second);
    expect(first.length).toBe(second.length);

    // Unrelated beyond the key id: no shared run of ciphertext bytes.
    const a = decoded(first);
    const b = decoded(second);
    expect(a.subarray(0, 4).equals(b.subarray(0, 4))).toBe(true); // same key id
    let equalBytes = 0;
    for (let i = 4; i < a.length; i++) if (a[i] === b[i]) equalBytes++;
    expect(equalBytes).toBeLessThan((a.length - 4) / 16); // ~1/256 expected by chance

    for (const token of [first, second]) {
      const res = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": token }));
      expect(res.body).toEqual({ user: "alice", isNew: false });
    }
  });

  it("every seal draws a fresh nonce", async () => {
    const { app } = cookieApp([KEY_A]);
    const nonces = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const token = cookieValue(await request(app.callback()).get("/login"));
      nonces.add(decoded(token).subarray(4, 16).toString("hex"));
    }
    expect(nonces.size).toBe(50);
  });
});
