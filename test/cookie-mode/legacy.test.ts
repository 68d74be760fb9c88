/**
 * Migration from koa-session 7, proved against the real package: an app on koa-session writes a
 * session, then the same app on koa-sessionkit with `legacy: "koa-session"` (same app.keys, same store)
 * reads it once, keeps the user logged in and re-issues it in koa-sessionkit's format. Without the
 * option, a koa-session cookie is just a fresh session.
 */
import Koa from "koa";
import request from "supertest";
import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import session, { storeKeyFor, type SessionOptions } from "../../src/index.js";
import { keyring } from "../../src/crypto/keyring.js";
import { cookieHeader, KEY_A, KEY_B, setCookies } from "./helpers.js";
import { ANONYMOUS, jar, LOGGED_IN, MapStore, newApp, oldApp } from "./legacy-fixtures.js";

describe("legacy koa-session, store mode", () => {
  it("keeps the user logged in, re-issues a koa-sessionkit cookie and destroys the legacy entry", async () => {
    const store = new MapStore();
    const before = await request(oldApp([KEY_A, KEY_B], { store }).app.callback()).get("/login");
    const legacyId = setCookies(before).get("koa.sess")?.value as string;
    expect(legacyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(setCookies(before).get("koa.sess.sig")?.value).toMatch(/^[A-Za-z0-9_-]{27}$/); // Keygrip SHA-1
    expect(store.map.has(legacyId)).toBe(true);

    const { app, errors } = newApp([KEY_A, KEY_B], { store, legacy: "koa-session" });
    const migrated = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(migrated.status).toBe(200);
    expect(migrated.body).toEqual(LOGGED_IN);

    const cookies = setCookies(migrated);
    const id = cookies.get("koa.sess")?.value as string;
    const sig = cookies.get("koa.sess.sig")?.value as string;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sig).toBe(keyring([KEY_A]).sign(`koa.sess=${id}`)); // HMAC-SHA256 with the first key
    expect(store.map.has(legacyId)).toBe(false);
    expect(store.map.has(id)).toBe(false); // never the raw id...
    expect(JSON.parse(store.map.get(storeKeyFor(id)) as string)).toMatchObject(LOGGED_IN); // ...its hash
    expect(store.map.size).toBe(1);

    // The new cookie works on its own, with nothing to re-send.
    const next = await request(app.callback()).get("/whoami").set("Cookie", jar(migrated));
    expect(next.body).toEqual(LOGGED_IN);
    expect(next.headers["set-cookie"]).toBeUndefined();

    // The legacy entry is gone. For a minute the old cookie still finds the session it moved to (a
    // page's other requests, sent with the old cookie alongside this one, must not log the user
    // out) and is given the same new cookie; after that it finds nothing.
    const alongside = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(alongside.body).toEqual(LOGGED_IN);
    expect(setCookies(alongside).get("koa.sess")?.value).toBe(id);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
    try {
      const replay = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
      expect(replay.status).toBe(200);
      expect(replay.body).toEqual(ANONYMOUS);
    } finally {
      vi.useRealTimers();
    }
    expect(errors).toEqual([]);
  });

  it("honours koa-session's prefix (the legacy entry is keyed by prefix + uuid) and rotated keys", async () => {
    const store = new MapStore();
    const before = await request(oldApp([KEY_A], { store, prefix: "sess:" }).app.callback()).get("/login");
    const legacyId = setCookies(before).get("koa.sess")?.value as string;
    expect(legacyId.startsWith("sess:")).toBe(true);

    // Keys rotated at the same time as the switch: B signs now, A still verifies the old cookie.
    const { app } = newApp([KEY_B, KEY_A], { store, prefix: "sess:", legacy: "koa-session" });
    const migrated = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(migrated.body).toEqual(LOGGED_IN);
    const id = setCookies(migrated).get("koa.sess")?.value as string;
    expect(setCookies(migrated).get("koa.sess.sig")?.value).toBe(keyring([KEY_B]).sign(`koa.sess=${id}`));
    expect([...store.map.keys()]).toEqual([storeKeyFor(id, "sess:")]);
  });

  it("without legacy, the same cookie is a fresh session and the legacy entry is left alone", async () => {
    const store = new MapStore();
    const before = await request(oldApp([KEY_A], { store }).app.callback()).get("/login");
    const { app, errors } = newApp([KEY_A], { store });
    const res = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(ANONYMOUS);
    expect(store.map.size).toBe(1);
    expect(errors).toEqual([]);
  });

  it("a legacy cookie with a forged or missing signature is not looked up", async () => {
    const store = new MapStore();
    const before = await request(oldApp([KEY_A], { store }).app.callback()).get("/login");
    const legacyId = setCookies(before).get("koa.sess")?.value as string;
    const get = vi.spyOn(store, "get");
    const { app } = newApp([KEY_A], { store, legacy: "koa-session" });
    for (const cookie of [
      cookieHeader({ "koa.sess": legacyId }),
      cookieHeader({ "koa.sess": legacyId, "koa.sess.sig": "A".repeat(27) }),
      cookieHeader({ "koa.sess": legacyId, "koa.sess.sig": keygrip(`koa.sess=${legacyId}`, KEY_B) }),
      // The right signature in another spelling (the last character's 2 spare bits changed).
      cookieHeader({ "koa.sess": legacyId, "koa.sess.sig": respell(keygrip(`koa.sess=${legacyId}`, KEY_A)) }),
    ]) {
      const res = await request(app.callback()).get("/whoami").set("Cookie", cookie);
      expect(res.body).toEqual(ANONYMOUS);
    }
    expect(get).not.toHaveBeenCalledWith(legacyId, expect.anything(), expect.anything());
    expect(store.map.has(legacyId)).toBe(true);
  });
});

/** Keygrip's signature, as koa's ctx.cookies writes it, for forging tests. */
function keygrip(data: string, key: string): string {
  return createHmac("sha1", key).update(data).digest("base64").replace(/[/+=]/g, (c) => ({ "/": "_", "+": "-", "=": "" })[c] as string);
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The same bytes spelled differently: flip a spare (ignored) low bit of the last character. */
function respell(signature: string): string {
  return signature.slice(0, -1) + B64URL[B64URL.indexOf(signature.slice(-1)) ^ 1];
}

describe("legacy koa-session, cookie mode", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps the user logged in and re-seals the session as a v1 token", async () => {
    const before = await request(oldApp([KEY_A, KEY_B]).app.callback()).get("/login");
    const legacyValue = setCookies(before).get("koa.sess")?.value as string;
    // koa-session's cookie mode: readable base64 JSON.
    expect(JSON.parse(Buffer.from(legacyValue, "base64").toString("utf8"))).toMatchObject({ user: "alice", _maxAge: 86_400_000 });

    const { app, errors } = newApp([KEY_A, KEY_B], { mode: "cookie", legacy: "koa-session" });
    const migrated = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(migrated.status).toBe(200);
    expect(migrated.body).toEqual(LOGGED_IN);
    const token = setCookies(migrated).get("koa.sess")?.value as string;
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(Buffer.from(token.slice(3), "base64url").includes("alice")).toBe(false);

    // koa-session's .sig companion is expired on the same response instead of lingering.
    const staleSig = setCookies(migrated).get("koa.sess.sig");
    expect(staleSig?.value).toBe("");
    expect(staleSig?.attributes.expires).toMatch(/01 Jan 1970/);

    const next = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": token }));
    expect(next.body).toEqual(LOGGED_IN);
    expect(next.headers["set-cookie"]).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it("ctx.session = null without reading the session first also clears koa-session's .sig", async () => {
    const before = await request(oldApp([KEY_A, KEY_B]).app.callback()).get("/login");
    const app = new Koa();
    app.keys = [KEY_A, KEY_B];
    app.use(session({ mode: "cookie", legacy: "koa-session" }, app));
    app.use((ctx) => {
      ctx.session = null;
      ctx.body = "bye";
    });
    const res = await request(app.callback()).get("/logout").set("Cookie", jar(before));
    for (const name of ["koa.sess", "koa.sess.sig"]) {
      expect(setCookies(res).get(name)?.attributes.expires, name).toMatch(/01 Jan 1970/);
    }
  });

  it("a legacy cookie stops being accepted at the _expire it carries", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const t0 = Date.UTC(2030, 0, 1);
    vi.setSystemTime(t0);
    const before = await request(oldApp([KEY_A], { maxAge: 60_000 }).app.callback()).get("/login");
    const { app } = newApp([KEY_A], { mode: "cookie", legacy: "koa-session" });
    vi.setSystemTime(t0 + 60_001);
    const res = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(res.body).toEqual(ANONYMOUS);
  });

  it("without legacy, or with an edited or unsigned legacy cookie, the session is fresh", async () => {
    const before = await request(oldApp([KEY_A]).app.callback()).get("/login");
    const plain = await request(newApp([KEY_A], { mode: "cookie" }).app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(plain.status).toBe(200);
    expect(plain.body).toEqual(ANONYMOUS);

    const { app } = newApp([KEY_A], { mode: "cookie", legacy: "koa-session" });
    const legacyValue = setCookies(before).get("koa.sess")?.value as string;
    const sig = setCookies(before).get("koa.sess.sig")?.value as string;
    const edited = Buffer.from(JSON.stringify({ user: "mallory", _expire: Date.now() + 60_000 })).toString("base64");
    for (const cookie of [
      cookieHeader({ "koa.sess": legacyValue }),
      cookieHeader({ "koa.sess": edited, "koa.sess.sig": sig }),
      cookieHeader({ "koa.sess": edited, "koa.sess.sig": keygrip(`koa.sess=${edited}`, "not-one-of-the-app-keys") }),
      cookieHeader({ "koa.sess": "%%%", "koa.sess.sig": sig }),
    ]) {
      const res = await request(app.callback()).get("/whoami").set("Cookie", cookie);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(ANONYMOUS);
    }
  });

  it("a legacy signature is accepted only in its canonical spelling (no spare-bit variants)", async () => {
    const before = await request(oldApp([KEY_A]).app.callback()).get("/login");
    const value = setCookies(before).get("koa.sess")?.value as string;
    const sig = setCookies(before).get("koa.sess.sig")?.value as string;
    const { app } = newApp([KEY_A], { mode: "cookie", legacy: "koa-session" });
    const original = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": value, "koa.sess.sig": sig }));
    expect(original.body).toEqual(LOGGED_IN);
    // 27 base64url characters carry 162 bits for a 160-bit HMAC-SHA1: the last one has 2 spare bits,
    // which Node's decoder ignores. Each variant decodes to the same MAC and must still be refused.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(sig.slice(-1));
    for (const spare of [1, 2, 3]) {
      const variant = sig.slice(0, -1) + alphabet[last ^ spare];
      expect(Buffer.from(variant, "base64url").equals(Buffer.from(sig, "base64url"))).toBe(true);
      const res = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": value, "koa.sess.sig": variant }));
      expect(res.body).toEqual(ANONYMOUS);
    }
  });

  it("a signed legacy cookie carrying __proto__ keys cannot pollute prototypes", async () => {
    const value = Buffer.from('{"__proto__":{"polluted":true},"user":"alice","_expire":' + (Date.now() + 60_000) + "}").toString("base64");
    const { app } = newApp([KEY_A], { mode: "cookie", legacy: "koa-session" });
    const res = await request(app.callback())
      .get("/whoami")
      .set("Cookie", cookieHeader({ "koa.sess": value, "koa.sess.sig": keygrip(`koa.sess=${value}`, KEY_A) }));
    expect(res.body.user).toBe("alice");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

/** A typical koa-session app.keys: far below the 32 bytes koa-sessionkit signs with. */
const OLD_SHORT_KEY = "im a secret";

describe("legacyKeys: koa-session keys shorter than 32 bytes", () => {
  it("store mode: verifies the old cookie with the short key, re-signs with the new app.keys", async () => {
    const store = new MapStore();
    const before = await request(oldApp([OLD_SHORT_KEY], { store }).app.callback()).get("/login");
    const legacyId = setCookies(before).get("koa.sess")?.value as string;

    // Without legacyKeys the short key can't be in app.keys, so the old cookie can't verify.
    const strict = newApp([KEY_A], { store, legacy: "koa-session" });
    expect((await request(strict.app.callback()).get("/whoami").set("Cookie", jar(before))).body).toEqual(ANONYMOUS);

    const { app, errors } = newApp([KEY_A], { store, legacy: "koa-session", legacyKeys: [OLD_SHORT_KEY] });
    const migrated = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(migrated.body).toEqual(LOGGED_IN);
    const id = setCookies(migrated).get("koa.sess")?.value as string;
    expect(setCookies(migrated).get("koa.sess.sig")?.value).toBe(keyring([KEY_A]).sign(`koa.sess=${id}`));
    expect(store.map.has(legacyId)).toBe(false);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
    try {
      const replay = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
      expect(replay.body).toEqual(ANONYMOUS);
    } finally {
      vi.useRealTimers();
    }
    expect(errors).toEqual([]);
  });

  it("cookie mode: the short key verifies koa-session's cookie, which is re-sealed under app.keys", async () => {
    const before = await request(oldApp([OLD_SHORT_KEY]).app.callback()).get("/login");
    const { app } = newApp([KEY_A], { mode: "cookie", legacy: "koa-session", legacyKeys: [Buffer.from(OLD_SHORT_KEY)] });
    const migrated = await request(app.callback()).get("/whoami").set("Cookie", jar(before));
    expect(migrated.body).toEqual(LOGGED_IN);
    const token = setCookies(migrated).get("koa.sess")?.value as string;
    expect(token).toMatch(/^v1\./);
    const next = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": token }));
    expect(next.body).toEqual(LOGGED_IN);
  });

  it("a legacy key never signs or verifies a koa-sessionkit cookie", async () => {
    const store = new MapStore();
    const { app } = newApp([KEY_A], { store, legacy: "koa-session", legacyKeys: [OLD_SHORT_KEY] });
    const login = await request(app.callback()).get("/login");
    const id = setCookies(login).get("koa.sess")?.value as string;
    expect(setCookies(login).get("koa.sess.sig")?.value).toBe(keyring([KEY_A]).sign(`koa.sess=${id}`));
    // The same id with an HMAC-SHA256 signature under the legacy key is refused.
    const forged = createHmac("sha256", OLD_SHORT_KEY).update(`koa.sess=${id}`).digest("base64url");
    const res = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": id, "koa.sess.sig": forged }));
    expect(res.body).toEqual(ANONYMOUS);
  });

  it("bad legacyKeys are a configuration error at start-up that says how to fix it", () => {
    const cases: Array<[SessionOptions, RegExp]> = [
      [{ legacyKeys: [OLD_SHORT_KEY] }, /legacyKeys.*add legacy: "koa-session"/],
      [{ legacy: "koa-session", legacyKeys: [] }, /legacyKeys.*non-empty array/],
      [{ legacy: "koa-session", legacyKeys: [""] }, /legacyKeys.*non-empty array/],
      [{ legacy: "koa-session", legacyKeys: OLD_SHORT_KEY as unknown as string[] }, /legacyKeys.*non-empty array/],
      [{ legacy: "koa-session", legacyKeys: [42 as unknown as string] }, /legacyKeys.*non-empty array/],
    ];
    for (const [options, message] of cases) {
      expect(() => newApp([KEY_A], options)).toThrow(message);
      expect(() => newApp([KEY_A], options)).toThrow(/^koa-sessionkit: /);
    }
  });
});
