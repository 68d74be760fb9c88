/**
 * Security property: key rotation. The first key seals and signs, every key opens and verifies, and a
 * session found under an older key is moved to the first key on that same response. A key that was
 * removed from the list opens nothing.
 */
import request from "supertest";
import { describe, expect, it } from "vitest";
import { keyring } from "../../src/crypto/keyring.js";
import { Sealer } from "../../src/crypto/seal.js";
import { MemoryStore } from "../../src/index.js";
import { cookieApp, cookieHeader, cookieValue, KEY_A, KEY_B, KEY_C, setCookies } from "./helpers.js";

async function whoami(keys: string[], token: string) {
  const { app, errors } = cookieApp(keys);
  const res = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": token }));
  expect(errors).toEqual([]);
  return res;
}

describe("cookie mode: key rotation", () => {
  it("a cookie sealed under [A] opens with [B, A] and is re-sealed under B on that response", async () => {
    const oldToken = cookieValue(await request(cookieApp([KEY_A]).app.callback()).get("/login"));

    const res = await whoami([KEY_B, KEY_A], oldToken);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: "alice", isNew: false });
    const newToken = cookieValue(res);
    expect(newToken).not.toBe(oldToken);
    expect(newToken.startsWith("v1.")).toBe(true);
    // Opened by B alone, as key index 0: it was sealed with B.
    expect(new Sealer(keyring([KEY_B])).open(newToken, "koa.sess")?.keyIndex).toBe(0);
    expect(new Sealer(keyring([KEY_A])).open(newToken, "koa.sess")).toBeNull();
  });

  it("the re-sealed cookie opens in an app that has retired A", async () => {
    const oldToken = cookieValue(await request(cookieApp([KEY_A]).app.callback()).get("/login"));
    const newToken = cookieValue(await whoami([KEY_B, KEY_A], oldToken));

    const res = await whoami([KEY_B], newToken);
    expect(res.body).toEqual({ user: "alice", isNew: false });
    // Sealed with the current key and unchanged: nothing to send.
    expect(setCookies(res).has("koa.sess")).toBe(false);
  });

  it("a cookie under the current key is not re-sealed when nothing changed", async () => {
    const token = cookieValue(await request(cookieApp([KEY_B, KEY_A]).app.callback()).get("/login"));
    const res = await whoami([KEY_B, KEY_A], token);
    expect(res.body).toEqual({ user: "alice", isNew: false });
    expect(setCookies(res).has("koa.sess")).toBe(false);
  });

  it("a cookie sealed under a removed key gives a fresh session", async () => {
    const oldToken = cookieValue(await request(cookieApp([KEY_A]).app.callback()).get("/login"));
    for (const keys of [[KEY_B], [KEY_B, KEY_C], [KEY_C, KEY_B]]) {
      const res = await whoami(keys, oldToken);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: null, isNew: true });
      expect(setCookies(res).get("koa.sess")?.value).toBe(""); // the dead cookie is cleared
    }
  });
});

describe("store mode: signature rotation", () => {
  it("a cookie signed under A verifies with [B, A] and .sig is re-signed with B, keeping the cookie's attributes", async () => {
    const store = new MemoryStore();
    const first = cookieApp([KEY_A], { mode: "store", store });
    const login = await request(first.app.callback()).get("/login");
    const original = setCookies(login);
    const id = original.get("koa.sess")?.value as string;
    const oldSig = original.get("koa.sess.sig")?.value as string;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(oldSig).toBe(keyring([KEY_A]).sign(`koa.sess=${id}`));

    const second = cookieApp([KEY_B, KEY_A], { mode: "store", store });
    const res = await request(second.app.callback())
      .get("/whoami")
      .set("Cookie", cookieHeader({ "koa.sess": id, "koa.sess.sig": oldSig }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: "alice", isNew: false });

    const reissued = setCookies(res);
    expect(reissued.get("koa.sess")?.value).toBe(id); // same session, same id
    expect(reissued.get("koa.sess.sig")?.value).toBe(keyring([KEY_B]).sign(`koa.sess=${id}`));
    for (const name of ["koa.sess", "koa.sess.sig"]) {
      expect(reissued.get(name)?.attributes).toEqual(original.get(name)?.attributes);
    }
    expect(second.errors).toEqual([]);

    // The re-signed cookie now verifies with B alone.
    const third = cookieApp([KEY_B], { mode: "store", store });
    const after = await request(third.app.callback())
      .get("/whoami")
      .set("Cookie", cookieHeader({ "koa.sess": id, "koa.sess.sig": reissued.get("koa.sess.sig")?.value as string }));
    expect(after.body).toEqual({ user: "alice", isNew: false });
  });

  it("a store-mode cookie signed under a removed key gives a fresh session", async () => {
    const store = new MemoryStore();
    const login = setCookies(await request(cookieApp([KEY_A], { mode: "store", store }).app.callback()).get("/login"));
    const res = await request(cookieApp([KEY_B], { mode: "store", store }).app.callback())
      .get("/whoami")
      .set("Cookie", cookieHeader({ "koa.sess": login.get("koa.sess")?.value as string, "koa.sess.sig": login.get("koa.sess.sig")?.value as string }));
    expect(res.body).toEqual({ user: null, isNew: true });
  });
});
