import { createHmac } from "node:crypto";
import Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session, { keyring } from "../../src/index.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, ID_RE, KEY1, KEY2, cookie, makeApp, sessionCookie, sign, viewCounter } from "./_util.js";

const hmac = (algorithm: string, key: string, data: string) => createHmac(algorithm, key).update(data).digest("base64url");

describe("HMAC-SHA256 cookie signatures", () => {
  it(".sig is base64url HMAC-SHA256(first key, 'koa.sess=<value>')", async () => {
    const r = await request(makeApp({}, viewCounter).callback()).get("/");
    const value = cookie(r)?.value as string;
    const sig = cookie(r, "koa.sess.sig")?.value as string;
    expect(value).toMatch(ID_RE);
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sig).toBe(hmac("sha256", KEY1, `koa.sess=${value}`));
    expect(sig).not.toBe(hmac("sha256", KEY2, `koa.sess=${value}`));
  });

  it("a cookie signed with the second key verifies and is re-signed with the first, attributes kept", async () => {
    const store = new CountingStore();
    const app = makeApp({ store, path: "/", sameSite: "strict" }, (ctx) => {
      if (ctx.path === "/set") ctx.session!.user = "alice";
      ctx.body = { user: ctx.session!.user ?? null, isNew: ctx.session!.isNew };
    });
    const client = new Client(app.callback());
    const first = await client.get("/set");
    const original = cookie(first);
    const id = original?.value as string;
    store.resetCounts();

    const r = await request(app.callback()).get("/").set("Cookie", `koa.sess=${id}; koa.sess.sig=${hmac("sha256", KEY2, `koa.sess=${id}`)}`);
    expect(r.body).toEqual({ user: "alice", isNew: false });
    expect(store.calls.get).toBe(1);
    expect(store.writes).toBe(0);
    const reissued = cookie(r);
    const sig = cookie(r, "koa.sess.sig");
    expect(reissued?.value).toBe(id);
    expect(sig?.value).toBe(hmac("sha256", KEY1, `koa.sess=${id}`));
    for (const c of [reissued, sig]) {
      expect(c?.attrs.path).toBe("/");
      expect(c?.attrs.httponly).toBe(true);
      expect(c?.attrs.samesite).toBe("strict");
      expect(c?.attrs.expires).toBe(original?.attrs.expires);
    }
  });

  it("a cookie signed with the first key is not re-sent when unchanged", async () => {
    const app = makeApp({}, (ctx) => {
      if (ctx.path === "/set") ctx.session!.user = "alice";
      ctx.body = ctx.session!.user ?? "";
    });
    const client = new Client(app.callback());
    await client.get("/set");
    const r = await client.get("/");
    expect(r.text).toBe("alice");
    expect(r.headers["set-cookie"]).toBeUndefined();
  });

  it("a Keygrip (HMAC-SHA1) signature is rejected without a store lookup", async () => {
    const store = new CountingStore();
    const app = makeApp({ store }, (ctx) => {
      if (ctx.path === "/set") ctx.session!.user = "alice";
      ctx.body = { user: ctx.session!.user ?? null, isNew: ctx.session!.isNew };
    });
    const client = new Client(app.callback());
    await client.get("/set");
    const id = client.jar.get("koa.sess") as string;
    store.resetCounts();
    const sha1 = hmac("sha1", KEY1, `koa.sess=${id}`);
    const r = await request(app.callback()).get("/").set("Cookie", `koa.sess=${id}; koa.sess.sig=${sha1}`);
    expect(r.body).toEqual({ user: null, isNew: true });
    expect(store.calls.get).toBe(0);
    // and the genuine SHA-256 cookie still works
    const ok = await request(app.callback()).get("/").set("Cookie", sessionCookie(id));
    expect(ok.body).toEqual({ user: "alice", isNew: false });
  });

  it("a signature under an unknown key is rejected", async () => {
    const store = new CountingStore();
    const app = makeApp({ store }, viewCounter);
    const client = new Client(app.callback());
    await client.get("/");
    const id = client.jar.get("koa.sess") as string;
    store.resetCounts();
    const r = await request(app.callback()).get("/").set("Cookie", sessionCookie(id, "x".repeat(40)));
    expect(r.text).toBe("1 views");
    expect(store.calls.get).toBe(0);
  });
});

describe("the cache of verified cookies", () => {
  it("a custom id with a dot can't be split into a forged value/signature pair that hits the cache", async () => {
    const store = new CountingStore();
    let n = 0;
    const app = makeApp({ store, genid: () => `tenantA.${String(++n).padStart(30, "0")}` }, viewCounter);
    const client = new Client(app.callback());
    await client.get("/");
    const id = client.jar.get("koa.sess") as string;
    const sig = hmac("sha256", KEY1, `koa.sess=${id}`);
    await request(app.callback()).get("/").set("Cookie", sessionCookie(id)).expect("2 views");
    store.resetCounts();
    // Same "value.signature" text, split elsewhere: "tenantA" signed by "<rest of the id>.<sig>".
    const [head, rest] = [id.slice(0, id.indexOf(".")), id.slice(id.indexOf(".") + 1)];
    const forged = await request(app.callback()).get("/").set("Cookie", `koa.sess=${head}; koa.sess.sig=${rest}.${sig}`);
    expect(forged.text).toBe("1 views");
    expect(store.calls.get).toBe(0);
  });
});

describe("keyring() as app.keys", () => {
  function app() {
    const a = new Koa();
    a.keys = keyring([KEY1, KEY2]) as unknown as string[];
    a.use(session({}, a));
    a.use((ctx) => {
      if (ctx.path === "/set") {
        ctx.cookies.set("pref", "dark", { signed: true });
        ctx.session!.views = 1;
        ctx.body = "set";
      } else {
        ctx.body = { pref: ctx.cookies.get("pref", { signed: true }) ?? null, views: ctx.session!.views ?? null };
      }
    });
    return a;
  }

  it("ctx.cookies.set(…, { signed: true }) signs with HMAC-SHA256", async () => {
    const r = await request(app().callback()).get("/set");
    expect(cookie(r, "pref")?.value).toBe("dark");
    expect(cookie(r, "pref.sig")?.value).toBe(hmac("sha256", KEY1, "pref=dark"));
    expect(cookie(r, "koa.sess.sig")?.value).toBe(sign(cookie(r)?.value as string, KEY1));
  });

  it("ctx.cookies.get(…, { signed: true }) verifies SHA-256 (either key) and rejects SHA-1 or tampering", async () => {
    const handler = app().callback();
    const get = async (cookieLine: string) => (await request(handler).get("/").set("Cookie", cookieLine)).body.pref;
    expect(await get(`pref=dark; pref.sig=${hmac("sha256", KEY1, "pref=dark")}`)).toBe("dark");
    expect(await get(`pref=dark; pref.sig=${hmac("sha256", KEY2, "pref=dark")}`)).toBe("dark");
    expect(await get(`pref=dark; pref.sig=${hmac("sha1", KEY1, "pref=dark")}`)).toBeNull();
    expect(await get(`pref=light; pref.sig=${hmac("sha256", KEY1, "pref=dark")}`)).toBeNull();
    expect(await get("pref=dark")).toBeNull();
  });

  it("the session middleware uses the same keyring", async () => {
    const client = new Client(app().callback());
    await client.get("/set");
    expect((await client.get("/")).body).toMatchObject({ pref: "dark", views: 1 });
  });
});

describe("key rotation in cookie mode", () => {
  function app(keys: string[]) {
    const a = new Koa();
    a.keys = keys;
    a.use(session({ mode: "cookie" }, a));
    a.use((ctx) => {
      if (ctx.path === "/set") ctx.session!.user = "alice";
      ctx.body = { user: ctx.session!.user ?? null };
    });
    return a.callback();
  }
  const header = (r: request.Response) =>
    ((r.headers["set-cookie"] as unknown as string[] | undefined) ?? []).map((line) => line.split(";")[0]).join("; ");

  it("a cookie sealed under the second key opens, is re-sealed under the first, and survives dropping the old key", async () => {
    const old = await request(app([KEY2])).get("/set");
    const rotated = await request(app([KEY1, KEY2])).get("/").set("Cookie", header(old));
    expect(rotated.body.user).toBe("alice");
    expect(cookie(rotated)?.value).toBeTruthy();
    expect(cookie(rotated)?.value).not.toBe(cookie(old)?.value);
    const later = await request(app([KEY1])).get("/").set("Cookie", header(rotated));
    expect(later.body.user).toBe("alice");
    const notRotated = await request(app([KEY1])).get("/").set("Cookie", header(old));
    expect(notRotated.body.user).toBeNull();
  });
});
