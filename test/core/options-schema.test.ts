/**
 * The runtime `SessionOptions` (koa-session 7 exports its zod schema under that name): `parse` and
 * `safeParse` with koa-session's defaults, and session()'s own rules and errors rather than zod's.
 */
import Koa from "koa";
import { SessionOptions as KoaSessionOptions } from "koa-session";
import request from "supertest";
import { describe, expect, expectTypeOf, it } from "vitest";
import session, { SessionConfigError, SessionOptions, type ParsedSessionOptions } from "../../src/index.js";
import { KEY1, viewCounter } from "./_util.js";

/** What koa-session's parse returns, without the encode/decode defaults it adds (see parse's docs). */
function koaSessionParse(input: object): Record<string, unknown> {
  const { encode: _encode, decode: _decode, ...rest } = KoaSessionOptions.parse(input) as Record<string, unknown>;
  return rest;
}

/** The error session() throws for these options, for comparison with parse's. */
function sessionError(input: unknown): SessionConfigError {
  const app = new Koa();
  app.keys = [KEY1];
  try {
    session(input as SessionOptions, app);
  } catch (err) {
    return err as SessionConfigError;
  }
  throw new Error("expected session() to throw");
}

describe("SessionOptions.parse", () => {
  it("fills in koa-session 7's defaults: parse({}) is koa-session's snapshot", () => {
    const parsed = SessionOptions.parse({});
    expect(parsed).toEqual({ key: "koa.sess", autoCommit: true, overwrite: true, httpOnly: true, signed: true, rolling: false, renew: false });
    expect(parsed).toEqual(koaSessionParse({}));
    // The upstream test compares a JSON round trip with the snapshot.
    expect(JSON.parse(JSON.stringify(parsed))).toEqual(koaSessionParse({}));
  });

  it("keeps what was given, as koa-session does, for the options both libraries have", () => {
    const valid = (_ctx: unknown, sess: Record<string, unknown>) => sess.ok === true;
    const store = { get: async () => undefined, set: async () => undefined, destroy: async () => undefined };
    const cases: object[] = [
      { key: "sid", maxAge: 60_000, rolling: true, secure: true, sameSite: "strict", prefix: "app:" },
      { maxAge: "session", signed: false, httpOnly: false, overwrite: false, autoCommit: false, renew: true },
    ];
    for (const input of cases) expect(SessionOptions.parse(input)).toEqual(koaSessionParse(input));
    // zod wraps functions in argument-checking proxies; the functions given are handed back as they are.
    const parsed = SessionOptions.parse({ valid, store });
    expect(Object.keys(parsed).sort()).toEqual(Object.keys(koaSessionParse({ valid, store })).sort());
    expect(parsed.valid).toBe(valid);
    expect(parsed.store).toBe(store);
  });

  it("returns a new object, drops unknown names (as zod does), keeps koa-sessionkit's own options and maps maxage", () => {
    const onEvent = () => undefined;
    const input = { maxage: 5000, mode: "cookie", storeTimeout: 500, onEvent, path: "/app", typo: true };
    const before = { ...input };
    const parsed = SessionOptions.parse(input);
    expect(parsed).not.toBe(input);
    expect(input).toEqual(before);
    expect(parsed).toEqual({ ...SessionOptions.parse({}), maxAge: 5000, mode: "cookie", storeTimeout: 500, onEvent, path: "/app" });
    expect(parsed).not.toHaveProperty("typo");
    expect(parsed).not.toHaveProperty("maxage");
    expect(parsed).not.toHaveProperty("encode");
  });

  it("its result is what session() takes, and means the same", async () => {
    const app = new Koa();
    app.keys = [KEY1];
    app.use(session(SessionOptions.parse({ key: "sid", maxAge: 60_000 }), app));
    app.use(viewCounter);
    const res = await request(app.callback()).get("/");
    expect(res.text).toBe("1 views");
    expect(String(res.headers["set-cookie"])).toMatch(/^sid=[A-Za-z0-9_-]{43}; path=\/; expires=/);
  });

  it("refuses what session() refuses, with the same SessionConfigError (code ERR_SESSIONKIT_CONFIG), never a ZodError", () => {
    const bad: unknown[] = [
      "koa.sess",
      { maxAge: "not the right string" },
      { maxAge: -1 },
      { externalKey: {} },
      { signed: "yes" },
      { key: "bad name" },
      { sameSite: "sometimes" },
      { store: { get: () => undefined } },
      { genid: "uuid" },
      { encode: JSON.stringify }, // no mode: "cookie" (the default here is a store)
      { mode: "cookie", store: { get() {}, set() {}, destroy() {} } },
      { key: "__Host-sid", domain: "example.com" },
      { legacy: "koa-session@6" },
      { legacyKeys: ["old"] },
      { storeTimeout: 0 },
      { onEvent: "log" },
    ];
    for (const input of bad) {
      let thrown: unknown;
      try {
        SessionOptions.parse(input);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(input)).toBeInstanceOf(SessionConfigError);
      expect(thrown).toBeInstanceOf(TypeError);
      const err = thrown as SessionConfigError;
      expect(err.code).toBe("ERR_SESSIONKIT_CONFIG");
      expect(err.message).toMatch(/^koa-sessionkit: /);
      expect(err.message).toBe(sessionError(input).message);
    }
  });

  it("refuses no options at all, as zod's object schema does (session() takes undefined or null as {})", () => {
    for (const input of [undefined, null]) expect(() => SessionOptions.parse(input)).toThrow(/^koa-sessionkit: options must be an object$/);
  });

  it("checks the keys option when given; app.keys is not its business", () => {
    expect(() => SessionOptions.parse({ keys: ["short"] })).toThrow(/shorter than 32 bytes/);
    expect(SessionOptions.parse({ keys: [KEY1] }).keys).toEqual([KEY1]);
    // Signed by default, and no keys anywhere: fine here, session() checks app.keys.
    expect(SessionOptions.parse({ mode: "cookie" }).mode).toBe("cookie");
  });

  it("can be called detached, as zod's bound methods can", () => {
    const { parse, safeParse } = SessionOptions;
    expect(parse({ key: "a" }).key).toBe("a");
    expect(safeParse({ key: "a" }).success).toBe(true);
  });

  it("is typed: the defaults are not optional in the result, and the same name is the options type", () => {
    expectTypeOf(SessionOptions.parse({})).toEqualTypeOf<ParsedSessionOptions>();
    expectTypeOf(SessionOptions.parse({}).key).toEqualTypeOf<string>();
    expectTypeOf(SessionOptions.parse({}).signed).toEqualTypeOf<boolean>();
    const options: SessionOptions = SessionOptions.parse({});
    expect(options.key).toBe("koa.sess");
  });
});

describe("SessionOptions.safeParse", () => {
  it("{ success: true, data } with the defaults", () => {
    expect(SessionOptions.safeParse({ rolling: true })).toEqual({ success: true, data: { ...SessionOptions.parse({}), rolling: true } });
  });

  it("{ success: false, error } with parse's SessionConfigError; koa-session's shape too", () => {
    const result = SessionOptions.safeParse({ maxAge: "soon" });
    expect(result.success).toBe(false);
    expect(result.data).toBeUndefined();
    if (result.success) throw new Error("unreachable");
    expect(result.error).toBeInstanceOf(SessionConfigError);
    expect(result.error.code).toBe("ERR_SESSIONKIT_CONFIG");
    expect(result.error.message).toMatch(/option "maxAge" must be a positive number/);
    const theirs = KoaSessionOptions.safeParse({ maxAge: "soon" });
    expect(Object.keys(theirs).sort()).toEqual(Object.keys(result).sort());
  });

  it("lets an error that is not about the options through, as zod's safeParse does", () => {
    const input = Object.defineProperty({}, "key", {
      enumerable: true,
      get() {
        throw new RangeError("getter failed");
      },
    });
    expect(() => SessionOptions.safeParse(input)).toThrow(RangeError);
  });
});
