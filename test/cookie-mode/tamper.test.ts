/**
 * Security property: a sealed cookie that was changed in any way does not open. The request gets a
 * fresh anonymous session (200, never a 5xx) and the bad cookie is cleared.
 */
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { keyring } from "../../src/crypto/keyring.js";
import { Sealer } from "../../src/crypto/seal.js";
import { cookieApp, cookieHeader, cookieValue, KEY_A, KEY_B, setCookies } from "./helpers.js";

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

describe("cookie mode: tampered cookies", () => {
  const { app, errors } = cookieApp([KEY_A, KEY_B]);
  const server = app.callback();
  let token = "";

  beforeAll(async () => {
    token = cookieValue(await request(server).get("/login"));
    expect(token.startsWith("v1.")).toBe(true);
  });

  async function expectFresh(value: string): Promise<void> {
    const res = await request(server).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": value }));
    expect(res.status, `cookie ${JSON.stringify(value.slice(0, 40))}`).toBe(200);
    expect(res.body).toEqual({ user: null, isNew: true });
  }

  it("the untouched cookie opens (control)", async () => {
    const res = await request(server).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": token }));
    expect(res.body).toEqual({ user: "alice", isNew: false });
  });

  it("changing any single character of the token gives a fresh session", async () => {
    for (let i = 0; i < token.length; i++) {
      const original = token[i] as string;
      const replacement = original === "A" ? "B" : original === "v" ? "w" : original === "1" ? "2" : original === "." ? "_" : "A";
      await expectFresh(token.slice(0, i) + replacement + token.slice(i + 1));
    }
  });

  it("flipping one bit in any byte of the sealed bytes gives a fresh session", async () => {
    const bytes = Buffer.from(token.slice(3), "base64url");
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const copy = Buffer.from(bytes);
        copy[i] = (copy[i] as number) ^ bit;
        await expectFresh(`v1.${copy.toString("base64url")}`);
      }
    }
  });

  it("swapping the unused low bits of the last base64url character gives a fresh session", async () => {
    // The last character may carry padding bits; a different spelling of the same bytes is not our token.
    const last = token[token.length - 1] as string;
    const index = BASE64URL.indexOf(last);
    for (const delta of [1, 2, 3]) {
      const other = BASE64URL[index ^ delta] as string;
      await expectFresh(token.slice(0, -1) + other);
    }
  });

  it("truncated tokens give a fresh session", async () => {
    for (const length of [0, 1, 3, 4, 10, 20, 43, token.length - 22, token.length - 16, token.length - 1]) {
      await expectFresh(token.slice(0, length) || "v1.");
    }
  });

  it("appended bytes give a fresh session", async () => {
    for (const suffix of ["A", "AAAA", "x".repeat(16), ".", "=", "==", token.slice(3)]) {
      await expectFresh(token + suffix);
    }
  });

  it("garbage, empty and oversized values give a fresh session", async () => {
    const garbage = [
      "",
      "v1.",
      "v1",
      "v2." + token.slice(3),
      "V1." + token.slice(3),
      " " + token,
      "null",
      "undefined",
      "{}",
      Buffer.from(JSON.stringify({ user: "alice" })).toString("base64"),
      "%E0%A4%A",
      "%%%",
      "v1.%00%00",
      "v1.////",
      "v1." + "A".repeat(200),
      "v1." + "A".repeat(10_000),
      "z".repeat(10_000),
    ];
    for (const value of garbage) await expectFresh(value);
  });

  it("a bad cookie is cleared in the response", async () => {
    const res = await request(server).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": "v1.garbage" }));
    const cleared = setCookies(res).get("koa.sess");
    expect(cleared?.value).toBe("");
    expect(new Date(cleared?.attributes.expires ?? "").getTime()).toBe(0);
  });

  it("a token sealed by the right key around a payload that is not a session object gives a fresh session", async () => {
    // Only a key holder could make these; they exercise the decode path behind a valid seal.
    const sealer = new Sealer(keyring([KEY_A]));
    const now = Date.now();
    for (const payload of ["not json", "[1,2,3]", "42", "null", '"text"', "{"]) {
      await expectFresh(sealer.seal(payload, "koa.sess", now, now + 60_000));
    }
  });

  it("a sealed payload with __proto__ keys does not pollute prototypes", async () => {
    const sealer = new Sealer(keyring([KEY_A]));
    const now = Date.now();
    const payload = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"user":"mallory"}';
    const res = await request(server)
      .get("/whoami")
      .set("Cookie", cookieHeader({ "koa.sess": sealer.seal(payload, "koa.sess", now, now + 60_000) }));
    expect(res.status).toBe(200);
    expect(res.body.user).toBe("mallory");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("no request above reached Koa's error handler", () => {
    expect(errors).toEqual([]);
  });
});
