import Keygrip from "keygrip";
import Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session, { MemoryStore, type SessionOptions, type StoredSession } from "../../src/index.js";
import { Client, KEY1, KEY2, viewCounter } from "./_util.js";

const NO_KEYS = Symbol("no keys");

function appWith(keys: unknown = [KEY1, KEY2]): Koa {
  const app = new Koa();
  if (keys !== NO_KEYS) (app as unknown as { keys: unknown }).keys = keys;
  return app;
}

function configError(fn: () => unknown): TypeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toMatch(/^koa-sessionkit:/);
    return err as TypeError;
  }
  throw new Error("expected session() to throw");
}

const bad = (options: unknown, keys?: unknown) => () => session(options as SessionOptions, appWith(keys));

describe("session() refuses bad configuration at start-up", () => {
  it("missing app.keys names app.keys and the key generator", () => {
    const err = configError(() => session({}, appWith(NO_KEYS)));
    expect(err.message).toMatch(/app\.keys/);
    expect(err.message).toContain("npx koa-sessionkit keys");
  });

  it("a key shorter than 32 bytes", () => {
    const err = configError(bad({}, [KEY1, "short-key"]));
    expect(err.message).toMatch(/32 bytes/);
    expect(err.message).toContain("npx koa-sessionkit keys");
  });

  it("keys given as session()'s keys option are named as that option, not as app.keys", () => {
    const short = configError(bad({ keys: [KEY1, "short-key"] }, [KEY1]));
    expect(short.message).toMatch(/^koa-sessionkit: the keys option has 1 key shorter than 32 bytes/);
    expect(short.message).not.toMatch(/app\.keys/);
    expect(configError(bad({ keys: [] }, [KEY1])).message).toMatch(/^koa-sessionkit: the keys option must be a non-empty array/);
    // app.keys is still named when the keys came from there.
    expect(configError(bad({}, [KEY1, "short-key"])).message).toMatch(/^koa-sessionkit: app\.keys has 1 key/);
  });

  it("non-array keys and empty keys", () => {
    expect(configError(bad({}, KEY1)).message).toContain("npx koa-sessionkit keys");
    expect(configError(bad({}, [])).message).toMatch(/non-empty array/);
    expect(configError(bad({}, [42])).message).toMatch(/strings or Buffers/);
  });

  it("keys from an unset environment variable name that likely cause", () => {
    const env: Record<string, string | undefined> = {};
    for (const keys of [[env.SESSION_KEY_1, env.SESSION_KEY_2], (env.SESSION_KEYS ?? "").split(","), []]) {
      const err = configError(bad({}, keys));
      expect(err.message).toMatch(/unset environment variable/);
      expect(err.message).toContain("npx koa-sessionkit keys");
    }
    // A real mistake of another kind is not blamed on the environment.
    expect(configError(bad({}, [42])).message).not.toMatch(/environment/);
    expect(configError(bad({}, [KEY1, "short-key"])).message).not.toMatch(/environment/);
  });

  it("a Keygrip instance as app.keys (Koa's docs show one) says why and what to set instead", () => {
    const keygrip = new Keygrip([KEY1, KEY2], "sha256");
    const err = configError(bad({}, keygrip));
    expect(err.message).toMatch(/Keygrip instance/);
    expect(err.message).toMatch(/set app\.keys to the array of keys itself/);
  });

  it("a Keyring from another copy of the package (ESM and CommonJS both loaded) is accepted", async () => {
    const foreign = { keys: [Buffer.from(KEY1), Buffer.from(KEY2)], sign: () => "", verify: () => false, index: () => -1 };
    const app = appWith(foreign);
    app.use(session({}, app));
    app.use(viewCounter);
    const client = new Client(app.callback());
    await client.get("/");
    expect((await client.get("/")).text).toBe("2 views");
  });

  it("bad maxAge", () => {
    for (const maxAge of [0, -1, Number.NaN, Infinity, "1d", "forever"]) {
      expect(configError(bad({ maxAge })).message).toMatch(/maxAge.*positive number of milliseconds or "session"/);
    }
  });

  it("bad sameSite", () => {
    expect(configError(bad({ sameSite: "sometimes" })).message).toMatch(/sameSite.*"strict", "lax", "none"/);
    expect(configError(bad({ sameSite: "none", secure: false })).message).toMatch(/Secure/);
  });

  it("__Host- name with a domain, secure: false or another path", () => {
    for (const options of [{ domain: "example.com" }, { secure: false }, { path: "/app" }]) {
      expect(configError(bad({ key: "__Host-sid", ...options })).message).toMatch(/__Host-.*secure cookies, path "\/" and no domain/);
    }
    expect(configError(bad({ key: "__Secure-sid", secure: false })).message).toMatch(/__Secure-/);
  });

  it("non-function genid (and other hooks)", () => {
    expect(configError(bad({ genid: "uuid" })).message).toMatch(/"genid" must be a function/);
    expect(configError(bad({ valid: true })).message).toMatch(/"valid" must be a function/);
    expect(configError(bad({ beforeSave: {} })).message).toMatch(/"beforeSave" must be a function/);
  });

  it("encode/decode without a store or mode (a koa-session cookie app that only swapped the import) say to add mode: \"cookie\"", () => {
    const encode = (value: object) => JSON.stringify(value);
    const decode = (text: string) => JSON.parse(text) as StoredSession;
    for (const options of [{ encode, decode }, { encode }, { decode }]) {
      const err = configError(bad(options));
      expect(err.message).toContain('mode: "cookie"');
      expect((err as { code?: string }).code).toBe("ERR_SESSIONKIT_CONFIG");
    }
    // With a store koa-session ignores them too; with cookie mode they apply.
    expect(() => session({ encode, decode, store: new MemoryStore() }, appWith())).not.toThrow();
    expect(() => session({ encode, decode, mode: "cookie" }, appWith())).not.toThrow();
  });

  it("bad store object", () => {
    for (const store of [{}, { get() {} }, { get() {}, set() {} }, "redis://", 5]) {
      expect(configError(bad({ store })).message).toMatch(/"store" must have get.*set.*destroy/);
    }
  });

  it("bad key, boolean options, externalKey, mode", () => {
    expect(configError(bad({ key: "has space" })).message).toMatch(/"key"/);
    expect(configError(bad({ httpOnly: "yes" })).message).toMatch(/"httpOnly" must be true or false/);
    expect(configError(bad({ externalKey: { get() {} } })).message).toMatch(/externalKey/);
    expect(configError(bad({ mode: "jwt" })).message).toMatch(/mode/);
    expect(configError(bad({ mode: "cookie", store: new MemoryStore() })).message).toMatch(/mode "cookie"/);
  });

  it("installing session() twice on one app is allowed, as in koa-session (see koa-session-parity.test.ts)", () => {
    const app = appWith();
    app.use(session({}, app));
    expect(() => session({ key: "other" }, app)).not.toThrow();
  });

  it("does not mutate the caller's options object", () => {
    const options: SessionOptions = { key: "sid" };
    session(options, appWith());
    expect(options).toEqual({ key: "sid" });
  });
});

describe("configurations that need no keys", () => {
  it("signed: false in store mode works without app.keys", async () => {
    const app = appWith(NO_KEYS);
    app.use(session({ signed: false }, app));
    app.use(viewCounter);
    const client = new Client(app.callback());
    expect((await client.get("/")).text).toBe("1 views");
    expect((await client.get("/")).text).toBe("2 views");
  });

  it("cookie mode still needs keys, and says they seal (not sign) the session", () => {
    for (const signed of [false, true, undefined]) {
      const err = configError(() => session({ mode: "cookie", signed }, appWith(NO_KEYS)));
      expect((err as { code?: string }).code).toBe("ERR_SESSIONKIT_CONFIG");
      expect(err.message).toMatch(/app\.keys is required to seal cookie-mode sessions/);
      expect(err.message).not.toMatch(/signed sessions/);
      expect(err.message).toContain("npx koa-sessionkit keys");
    }
  });

  it("store mode: signed sessions need keys, and legacy needs them even with signed: false", () => {
    expect(configError(() => session({}, appWith(NO_KEYS))).message).toMatch(/app\.keys is required for signed sessions/);
    const legacy = configError(() => session({ signed: false, legacy: "koa-session" }, appWith(NO_KEYS)));
    expect(legacy.message).toMatch(/app\.keys is required by legacy: "koa-session"/);
  });

  it("keys given as an option instead of app.keys", async () => {
    const app = appWith(NO_KEYS);
    app.use(session({ keys: [KEY1] }, app));
    app.use(viewCounter);
    expect((await request(app.callback()).get("/")).text).toBe("1 views");
  });
});
