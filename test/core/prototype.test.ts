import type Koa from "koa";
import { describe, expect, it } from "vitest";
import { Session, type SessionStore, type StoredSession } from "../../src/index.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, makeApp, sha256 } from "./_util.js";

/** A store like a naive Redis adapter: keeps JSON text and hands back plain JSON.parse results. */
class RawTextStore implements SessionStore {
  readonly texts = new Map<string, string>();
  get(key: string) {
    const text = this.texts.get(key);
    return text === undefined ? null : (JSON.parse(text) as StoredSession);
  }
  set(key: string, session: StoredSession) {
    this.texts.set(key, JSON.stringify(session));
  }
  destroy(key: string) {
    this.texts.delete(key);
  }
}

const future = () => Date.now() + 60_000;

function hostileText(): string {
  return `{
    "_expire": ${future()}, "_maxAge": 86400000,
    "__proto__": { "polluted": "yes", "isNew": "override", "save": "nope" },
    "\\u005f_proto__": { "polluted2": "yes" },
    "constructor": { "prototype": { "polluted": "yes" } },
    "prototype": { "polluted": "yes" },
    "isNew": "override", "save": "not a function", "toJSON": "x", "length": 99, "populated": "x",
    "nested": { "__proto__": { "polluted": "yes" }, "constructor": { "prototype": { "x": 1 } }, "deep": { "\\u005f_proto__": { "polluted": "yes" } }, "ok": 1 },
    "user": "alice"
  }`;
}

const inspect: Koa.Middleware = (ctx) => {
  const s = ctx.session!;
  const nested = s.nested as Record<string, unknown> | undefined;
  const deep = nested?.deep as Record<string, unknown> | undefined;
  ctx.body = {
    protoIsSession: Object.getPrototypeOf(s) === Session.prototype,
    isNew: s.isNew,
    saveIsFunction: typeof s.save === "function",
    toJSONIsFunction: typeof s.toJSON === "function",
    length: s.length,
    populated: s.populated,
    user: s.user ?? null,
    ownKeys: Object.getOwnPropertyNames(s).sort(),
    nestedProtoIsObject: nested ? Object.getPrototypeOf(nested) === Object.prototype : null,
    nestedKeys: nested ? Object.getOwnPropertyNames(nested).sort() : null,
    deepKeys: deep ? Object.getOwnPropertyNames(deep) : null,
    polluted: ({} as Record<string, unknown>).polluted ?? ({} as Record<string, unknown>).polluted2 ?? (s as Record<string, unknown>).polluted ?? null,
    json: s.toJSON(),
  };
  if (ctx.path === "/write") s.visited = true;
};

const EXPECTED = {
  protoIsSession: true,
  isNew: false,
  saveIsFunction: true,
  toJSONIsFunction: true,
  length: 2,
  populated: true,
  user: "alice",
  ownKeys: ["nested", "user"],
  nestedProtoIsObject: true,
  nestedKeys: ["deep", "ok"],
  deepKeys: [],
  polluted: null,
  json: { nested: { deep: {}, ok: 1 }, user: "alice" },
};

async function plant(store: CountingStore | RawTextStore, app: Koa): Promise<Client> {
  const client = new Client(app.callback());
  await client.get("/create");
  const key = sha256(client.jar.get("koa.sess") as string);
  if (store instanceof RawTextStore) store.texts.set(key, hostileText());
  else await store.inner.set(key, JSON.parse(hostileText()) as StoredSession, 60_000, {});
  return client;
}

describe("hostile store entries", () => {
  for (const [name, make] of [
    ["MemoryStore (parses its own text)", () => new CountingStore()],
    ["a foreign store returning JSON.parse objects", () => new RawTextStore()],
  ] as const) {
    it(`${name}: no prototype change, no API override, nothing dangerous written back`, async () => {
      const store = make();
      const app = makeApp({ store }, (ctx, next) => {
        if (ctx.path === "/create") {
          ctx.session!.seed = 1;
          ctx.body = "ok";
          return;
        }
        return next();
      }, inspect);
      const client = await plant(store, app);
      const r = await client.get("/read");
      expect(r.status).toBe(200);
      expect(r.body).toEqual(EXPECTED);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty("polluted");

      const w = await client.get("/write");
      expect(w.status).toBe(200);
      const key = sha256(client.jar.get("koa.sess") as string);
      const text = store instanceof RawTextStore ? (store.texts.get(key) as string) : JSON.stringify(await store.peek(key));
      expect(text).toContain('"visited":true');
      expect(text).not.toMatch(/__proto__|\\u005f|polluted|"constructor"|"prototype"/);
      if (store instanceof RawTextStore) {
        // A full rewrite (set) keeps only the data: API names planted in the entry are gone too.
        expect(text).not.toMatch(/override|"isNew"|"save"/);
      }
      // Whatever stays in the entry, a later request still sees the real API.
      expect((await client.get("/read")).body).toMatchObject({ isNew: false, saveIsFunction: true, protoIsSession: true, polluted: null });
    });
  }
});

describe("reserved fields cannot be written by handlers", () => {
  function app(store: CountingStore) {
    return makeApp({ store, maxAge: 60_000 }, (ctx) => {
      const s = ctx.session! as Record<string, unknown>;
      let threw = false;
      switch (ctx.path) {
        case "/create":
          s.user = "alice";
          break;
        case "/reserved":
          s._expire = 1;
          s._maxAge = 1;
          s._session = true;
          s._sk = { userId: "admin", createdAt: 0 };
          s.changed = true;
          break;
        case "/isnew":
          try {
            s.isNew = false;
          } catch {
            threw = true;
          }
          s.changed = true;
          break;
      }
      ctx.body = { isNew: ctx.session!.isNew, threw, json: ctx.session!.toJSON() };
    });
  }

  it("_expire/_maxAge/_session/_sk set by a handler are not saved", async () => {
    const store = new CountingStore();
    const client = new Client(app(store).callback());
    await client.get("/create");
    const r = await client.get("/reserved");
    expect(r.body.json).toEqual({ user: "alice", changed: true });
    const stored = await store.peek(sha256(client.jar.get("koa.sess") as string));
    expect(stored?._expire).toBeGreaterThan(Date.now() + 50_000);
    expect(stored?._maxAge).toBe(60_000);
    expect(stored?._session).toBeUndefined();
    expect(stored?._sk?.userId).toBeUndefined();
    expect(stored?._sk?.createdAt).toBeGreaterThan(0);
    const next = await client.get("/");
    expect(next.body).toMatchObject({ isNew: false, json: { user: "alice", changed: true } });
  });

  it("ctx.session.isNew = false throws (or is ignored) and is never persisted", async () => {
    const store = new CountingStore();
    const client = new Client(app(store).callback());
    const r = await client.get("/isnew");
    expect(r.status).toBe(200);
    expect(r.body.isNew).toBe(true);
    expect(r.body.threw).toBe(true);
    const text = JSON.stringify(await store.peek(sha256(client.jar.get("koa.sess") as string)));
    expect(text).not.toContain("isNew");
    expect((await client.get("/")).body.isNew).toBe(false);
  });

  it("ctx.session = { isNew, _expire, __proto__ } keeps only the data", async () => {
    const store = new CountingStore();
    const client = new Client(
      makeApp({ store }, (ctx) => {
        if (ctx.path === "/replace") ctx.session = JSON.parse('{"isNew":false,"_expire":1,"__proto__":{"polluted":1},"user":"bob"}') as Record<string, unknown>;
        ctx.body = { isNew: ctx.session!.isNew, json: ctx.session!.toJSON(), proto: Object.getPrototypeOf(ctx.session) === Session.prototype };
      }).callback(),
    );
    const r = await client.get("/replace");
    expect(r.body).toEqual({ isNew: true, json: { user: "bob" }, proto: true });
    const stored = await store.peek(sha256(client.jar.get("koa.sess") as string));
    expect(stored?._expire).toBeGreaterThan(Date.now());
    expect((await client.get("/")).body).toEqual({ isNew: false, json: { user: "bob" }, proto: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
