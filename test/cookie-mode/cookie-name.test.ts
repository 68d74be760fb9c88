/**
 * Security property: a sealed value is bound to its cookie name (the name is AES-GCM additional
 * authenticated data). Two apps sharing keys, say an admin app and a public app, cannot have one's
 * session pasted into the other's cookie.
 */
import request from "supertest";
import { describe, expect, it } from "vitest";
import { keyring } from "../../src/crypto/keyring.js";
import { Sealer } from "../../src/crypto/seal.js";
import { MemoryStore } from "../../src/index.js";
import { cookieApp, cookieHeader, cookieValue, KEY_A, KEY_B, setCookies } from "./helpers.js";

const KEYS = [KEY_A, KEY_B];

describe("cookie mode: the cookie name is bound to the sealed value", () => {
  it('a token sealed for cookie "a" does not open as cookie "b"', async () => {
    const appA = cookieApp(KEYS, { key: "a" });
    const appB = cookieApp(KEYS, { key: "b" });
    const tokenA = cookieValue(await request(appA.app.callback()).get("/login"), "a");

    // Control: it opens under its own name.
    const own = await request(appA.app.callback()).get("/whoami").set("Cookie", cookieHeader({ a: tokenA }));
    expect(own.body).toEqual({ user: "alice", isNew: false });

    const pasted = await request(appB.app.callback()).get("/whoami").set("Cookie", cookieHeader({ b: tokenA }));
    expect(pasted.status).toBe(200);
    expect(pasted.body).toEqual({ user: null, isNew: true });
    expect(setCookies(pasted).get("b")?.value).toBe("");
    expect(appB.errors).toEqual([]);
  });

  it("names that differ only slightly do not open each other's tokens", async () => {
    const names = ["koa.sess", "koa.sess2", "Koa.sess", "koa.ses", "koa.sess.sig", "__Host-koa.sess"];
    const tokens = new Map<string, string>();
    for (const key of names) {
      const secure = key.startsWith("__Host-") ? { secure: true } : {};
      const { app } = cookieApp(KEYS, { key, ...secure });
      tokens.set(key, cookieValue(await request(app.callback()).get("/login"), key));
    }
    for (const reader of names) {
      const secure = reader.startsWith("__Host-") ? { secure: true } : {};
      const { app } = cookieApp(KEYS, { key: reader, ...secure });
      for (const [writer, token] of tokens) {
        const res = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ [reader]: token }));
        expect(res.status).toBe(200);
        expect(res.body.user, `token for ${writer} read as ${reader}`).toBe(writer === reader ? "alice" : null);
      }
    }
  });

  it("the name is checked by the seal itself, not by the app's routing", () => {
    const sealer = new Sealer(keyring(KEYS));
    const now = Date.now();
    const token = sealer.seal('{"user":"alice"}', "a", now, now + 60_000);
    expect(sealer.open(token, "a")?.payload).toBe('{"user":"alice"}');
    expect(sealer.open(token, "b")).toBeNull();
    expect(sealer.open(token, "")).toBeNull();
    expect(sealer.open(token, "a ")).toBeNull();
  });

  it("store mode: an id signed for cookie \"a\" does not verify as cookie \"b\"", async () => {
    const store = new MemoryStore();
    const appA = cookieApp(KEYS, { mode: "store", key: "a", store });
    const appB = cookieApp(KEYS, { mode: "store", key: "b", store });
    const login = setCookies(await request(appA.app.callback()).get("/login"));
    const id = login.get("a")?.value as string;
    const sig = login.get("a.sig")?.value as string;

    const pasted = await request(appB.app.callback()).get("/whoami").set("Cookie", cookieHeader({ b: id, "b.sig": sig }));
    expect(pasted.body).toEqual({ user: null, isNew: true });
  });
});
