/** Each koa-session option, through HTTP. */
import { randomBytes } from "node:crypto";
import Koa from "koa";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, ID_RE, cookie, cookies, makeApp, sha256, viewCounter } from "./_util.js";

afterEach(() => {
  vi.useRealTimers();
});


describe("options", () => {
  it("every option given as undefined (an unset setting) behaves as if it were left out", async () => {
    const names = ["key", "maxAge", "autoCommit", "overwrite", "httpOnly", "signed", "rolling", "renew", "secure", "sameSite", "path", "domain", "priority", "partitioned", "mode", "store", "externalKey", "encode", "decode", "genid", "prefix", "valid", "beforeSave", "storeTimeout", "legacy", "legacyKeys", "keys", "onEvent"];
    const unset = Object.fromEntries(names.map((name) => [name, undefined]));
    const lines = async (options: object) => {
      const client = new Client(makeApp(options, viewCounter).callback());
      await client.get("/");
      const r = await client.get("/");
      return { text: r.text, cookies: ((r.headers["set-cookie"] as unknown as string[] | undefined) ?? []).length, first: cookie(await request(makeApp(options, viewCounter).callback()).get("/")) };
    };
    const [plain, explicit] = [await lines({}), await lines(unset)];
    expect(explicit.text).toBe("2 views");
    expect(explicit.cookies).toBe(plain.cookies);
    expect(explicit.first?.attrs).toEqual(plain.first?.attrs);
    expect(explicit.first?.value).toMatch(ID_RE);
  });

  it("key names the cookie", async () => {
    const r = await request(makeApp({ key: "my.sid" }, viewCounter).callback()).get("/");
    expect(cookie(r, "my.sid")?.value).toMatch(ID_RE);
    expect(cookie(r, "my.sid.sig")).toBeDefined();
    expect(cookie(r, "koa.sess")).toBeUndefined();
  });

  it("maxAge number sets Expires; 'session' sets none", async () => {
    const r1 = await request(makeApp({ maxAge: 60_000 }, viewCounter).callback()).get("/");
    expect(Math.abs(Date.parse(String(cookie(r1)?.attrs.expires)) - (Date.now() + 60_000))).toBeLessThan(2000);
    const app = makeApp({ maxAge: "session" }, viewCounter);
    const client = new Client(app.callback());
    const r2 = await client.get("/");
    expect(cookie(r2)?.value).toMatch(ID_RE);
    expect(cookie(r2)?.attrs.expires).toBeUndefined();
    expect(cookie(r2)?.attrs["max-age"]).toBeUndefined();
    expect((await client.get("/")).text).toBe("2 views");
  });

  it("autoCommit: false commits only on manuallyCommit()", async () => {
    const store = new CountingStore();
    const app = makeApp({ autoCommit: false, store }, async (ctx) => {
      ctx.session!.x = 1;
      if (ctx.path === "/commit") await ctx.session!.manuallyCommit();
      ctx.body = "ok";
    });
    const r1 = await request(app.callback()).get("/");
    expect(cookies(r1)).toHaveLength(0);
    expect(store.writes).toBe(0);
    const r2 = await request(app.callback()).get("/commit");
    expect(cookie(r2)?.value).toMatch(ID_RE);
    expect(store.calls.set).toBe(1);
  });

  it("overwrite replaces an earlier Set-Cookie of the same name; overwrite: false keeps both", async () => {
    const handler: Koa.Middleware = (ctx) => {
      ctx.cookies.set("koa.sess", "early", { signed: false });
      ctx.session!.x = 1;
      ctx.body = "ok";
    };
    const r1 = await request(makeApp({}, handler).callback()).get("/");
    expect(cookies(r1).filter((c) => c.name === "koa.sess").map((c) => c.value)).toEqual([expect.stringMatching(ID_RE)]);
    const r2 = await request(makeApp({ overwrite: false }, handler).callback()).get("/");
    expect(cookies(r2).filter((c) => c.name === "koa.sess")).toHaveLength(2);
  });

  it("httpOnly: false drops HttpOnly", async () => {
    const r = await request(makeApp({ httpOnly: false }, viewCounter).callback()).get("/");
    expect(cookie(r)?.attrs.httponly).toBeUndefined();
  });

  it("signed: false sends no .sig and still works", async () => {
    const app = makeApp({ signed: false }, viewCounter);
    const client = new Client(app.callback());
    const r = await client.get("/");
    expect(cookie(r, "koa.sess.sig")).toBeUndefined();
    expect((await client.get("/")).text).toBe("2 views");
  });

  it("rolling re-sends the cookie on every request", async () => {
    const app = makeApp({ rolling: true }, (ctx) => {
      if (ctx.path === "/set") ctx.session!.x = 1;
      ctx.body = "ok";
    });
    const client = new Client(app.callback());
    await client.get("/set");
    const r = await client.get("/");
    expect(cookie(r)?.value).toBe(client.jar.get("koa.sess"));
    expect(cookie(r, "koa.sess.sig")).toBeDefined();
  });

  it("renew re-sends the cookie only when less than half of maxAge remains", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    const app = makeApp({ renew: true, maxAge: 10_000 }, (ctx) => {
      if (ctx.path === "/set") ctx.session!.x = 1;
      ctx.body = "ok";
    });
    const client = new Client(app.callback());
    await client.get("/set");
    vi.setSystemTime(Date.now() + 3000);
    expect(cookies(await client.get("/"))).toHaveLength(0);
    vi.setSystemTime(Date.now() + 3000);
    const r = await client.get("/");
    expect(cookie(r)?.value).toBe(client.jar.get("koa.sess"));
  });

  it("secure, sameSite, path and domain reach the cookie", async () => {
    const r = await request(
      makeApp({ secure: true, sameSite: "strict", path: "/app", domain: "example.com" }, viewCounter).callback(),
    ).get("/app");
    const c = cookie(r);
    expect(c?.attrs.secure).toBe(true);
    expect(c?.attrs.samesite).toBe("strict");
    expect(c?.attrs.path).toBe("/app");
    expect(c?.attrs.domain).toBe("example.com");
    const none = cookie(await request(makeApp({ sameSite: "none" }, viewCounter).callback()).get("/"));
    expect(none?.attrs.samesite).toBe("none");
    expect(none?.attrs.secure).toBe(true);
  });

  it("store receives the session", async () => {
    const store = new CountingStore();
    const client = new Client(makeApp({ store }, viewCounter).callback());
    await client.get("/");
    expect(store.calls.set).toBe(1);
    const stored = await store.peek(sha256(client.jar.get("koa.sess") as string));
    expect(stored?.views).toBe(1);
  });

  it("ContextStore is constructed per request with ctx", async () => {
    const backing = new MemoryStore();
    const made: Koa.Context[] = [];
    class PerRequest extends CountingStore {
      constructor(ctx: Koa.Context) {
        super({ inner: backing });
        made.push(ctx);
      }
    }
    const client = new Client(makeApp({ ContextStore: PerRequest }, viewCounter).callback());
    await client.get("/");
    expect((await client.get("/")).text).toBe("2 views");
    expect(made.length).toBe(2);
    expect(made[0]).not.toBe(made[1]);
    expect(typeof made[0]?.path).toBe("string");
  });

  it("externalKey reads and writes the id through a header", async () => {
    const app = makeApp(
      {
        externalKey: {
          get: (ctx) => ctx.get("x-session") || undefined,
          set: (ctx, value) => ctx.set("x-session", value),
        },
      },
      viewCounter,
    );
    const r1 = await request(app.callback()).get("/");
    expect(cookies(r1)).toHaveLength(0);
    const id = r1.headers["x-session"] as string;
    expect(id).toMatch(ID_RE);
    const r2 = await request(app.callback()).get("/").set("x-session", id);
    expect(r2.text).toBe("2 views");
  });

  it("genid makes the id", async () => {
    const store = new CountingStore();
    const genid = vi.fn(() => `custom-${randomBytes(24).toString("hex")}`);
    const client = new Client(makeApp({ genid, store }, viewCounter).callback());
    const r = await client.get("/");
    const id = cookie(r)?.value as string;
    expect(genid).toHaveBeenCalledTimes(1);
    expect(id).toMatch(/^custom-[0-9a-f]{48}$/);
    expect(store.setKeys).toEqual([sha256(id)]);
    expect((await client.get("/")).text).toBe("2 views");
  });

  it("prefix starts every store key", async () => {
    const store = new CountingStore();
    const client = new Client(makeApp({ prefix: "sess:", store }, viewCounter).callback());
    await client.get("/");
    await client.get("/");
    expect(store.keys.size).toBe(1);
    expect([...store.keys][0]).toBe(`sess:${sha256(client.jar.get("koa.sess") as string)}`);
  });

  it("beforeSave runs before a save and can change what is saved", async () => {
    const store = new CountingStore();
    const beforeSave = vi.fn((_ctx: Koa.Context, s: object) => {
      (s as Record<string, unknown>).savedBy = "hook";
    });
    const client = new Client(makeApp({ beforeSave, store }, viewCounter).callback());
    await client.get("/");
    expect(beforeSave).toHaveBeenCalledTimes(1);
    expect((await store.peek(sha256(client.jar.get("koa.sess") as string)))?.savedBy).toBe("hook");
  });

  it("encode/decode shape the cookie-mode payload", async () => {
    const encode = vi.fn((s: object) => Buffer.from(JSON.stringify(s)).toString("base64"));
    const decode = vi.fn((text: string) => JSON.parse(Buffer.from(text, "base64").toString("utf8")) as Record<string, unknown>);
    const client = new Client(makeApp({ mode: "cookie", encode, decode }, viewCounter).callback());
    expect((await client.get("/")).text).toBe("1 views");
    expect(encode).toHaveBeenCalledTimes(1);
    expect(encode.mock.calls[0]?.[0]).toMatchObject({ views: 1 });
    expect((await client.get("/")).text).toBe("2 views");
    expect(decode).toHaveBeenCalled();
    expect(decode.mock.results[0]?.value).toMatchObject({ views: 1 });
  });
});
