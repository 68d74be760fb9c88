/**
 * The one contract suite every store runs. A store passes by behaving like MemoryStore (the reference):
 * expiry is honoured on read, merge never resurrects, per-user index is exact, and a dump of the
 * store never holds a session id.
 */
import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionChanges, SessionStore, StoredSession } from "../../src/stores/contract.js";

export interface StoreHarness {
  store: SessionStore;
  /** Everything the store holds, as text: keys and values, table rows, or file bytes. */
  rawDump: () => Promise<string>;
  cleanup: () => Promise<void>;
}

export interface ContractOptions {
  /** Only get/set/destroy (koa-session 7 stores such as koa-redis). */
  core?: boolean;
  /** Smallest expiry the store honours in ms (koa-redis rounds up to whole seconds). Default 300. */
  shortMaxAgeMs?: number;
  /**
   * Optional methods this store deliberately lacks (connectStore: no merge/touch; listing only with
   * `all`). Their tests are replaced by one asserting the method is really absent, so the middleware
   * and auth take their documented fallbacks instead of calling something half-working.
   */
  without?: ("touch" | "merge" | "listByUser" | "destroyByUser")[];
}

const uid = () => randomBytes(6).toString("hex");
const storeKeyOf = (id: string) => "sk:" + createHash("sha256").update(id).digest("base64url");

function sessionFor(now: number, maxAge: number, extra: Partial<StoredSession> = {}): StoredSession {
  return { _expire: now + maxAge, _maxAge: maxAge, _sk: { createdAt: now, lastSeenAt: now }, ...extra };
}

function need<T>(method: T | undefined, name: string): T {
  if (method === undefined) throw new Error(`store does not implement ${name}`);
  return method;
}

export function runStoreContract(
  name: string,
  make: () => Promise<StoreHarness>,
  options: ContractOptions = {},
): void {
  const shortMaxAge = options.shortMaxAgeMs ?? 300;
  // Real time: the store's own expiry (Redis PX, SQL filters) is what is under test, not a fake clock.
  const pastShortMaxAge = () => sleep(shortMaxAge + 200);

  describe(`${name}: store contract`, () => {
    let harness: StoreHarness;
    let store: SessionStore;

    beforeAll(async () => {
      harness = await make();
      store = harness.store;
    });
    afterAll(async () => {
      await harness?.cleanup();
    });

    it("round-trips data and reserved fields exactly", async () => {
      const key = storeKeyOf(uid());
      const now = Date.now();
      const session = sessionFor(now, 60_000, {
        views: 3,
        name: "Zoë ✓ \u2028",
        empty: [],
        nested: { list: [1, null, { deep: true }], object: {} },
        big: Number.MAX_SAFE_INTEGER,
        fraction: 0.1 + 0.2,
        _sk: { createdAt: now, lastSeenAt: now, userId: "u-1", ip: "203.0.113.9", userAgent: "test/1" },
      });
      await store.set(key, session, 60_000, { changed: true });
      const loaded = await store.get(key, 60_000, {});
      expect(loaded).toEqual(JSON.parse(JSON.stringify(session)));
      await store.destroy(key, {});
    });

    it("hands out a fresh session on every read: changing one read's result changes no later read", async () => {
      const key = storeKeyOf(uid());
      const now = Date.now();
      await store.set(key, sessionFor(now, 60_000, { views: 1, _sk: { createdAt: now, userId: "u-1" } }), 60_000, {});
      // Several reads of one unchanged entry (text-reading stores remember a template from the second on).
      for (let read = 0; read < 4; read++) {
        const loaded = (await store.get(key, 60_000, {})) as Record<string, unknown> & { _sk: Record<string, unknown> };
        expect(loaded).toMatchObject({ views: 1, _sk: { userId: "u-1" } });
        loaded.views = 99;
        loaded.extra = true;
        loaded._sk.userId = "someone-else";
      }
      await store.destroy(key, {});
    });

    it("resolves null for an unknown key", async () => {
      expect((await store.get(storeKeyOf(uid()), 60_000, {})) ?? null).toBeNull();
    });

    it("destroy removes the entry, and destroying a missing entry is fine", async () => {
      const key = storeKeyOf(uid());
      await store.set(key, sessionFor(Date.now(), 60_000, { a: 1 }), 60_000, {});
      expect(await store.get(key, 60_000, {})).toMatchObject({ a: 1 });
      await store.destroy(key, {});
      expect((await store.get(key, 60_000, {})) ?? null).toBeNull();
      await expect(Promise.resolve(store.destroy(key, {}))).resolves.not.toThrow();
      await expect(Promise.resolve(store.destroy(storeKeyOf(uid()), {}))).resolves.not.toThrow();
    });

    it("expires an entry after its maxAge, before any pruning", async () => {
      const key = storeKeyOf(uid());
      const keep = storeKeyOf(uid());
      await store.set(key, sessionFor(Date.now(), shortMaxAge, { a: 1 }), shortMaxAge, {});
      await store.set(keep, sessionFor(Date.now(), 60_000, { a: 2 }), 60_000, {});
      expect(await store.get(key, shortMaxAge, {})).toMatchObject({ a: 1 });
      await pastShortMaxAge();
      expect((await store.get(key, shortMaxAge, {})) ?? null).toBeNull();
      expect(await store.get(keep, 60_000, {})).toMatchObject({ a: 2 });
      await store.destroy(keep, {});
    });

    it("keeps __proto__ as inert data, never as a prototype", async () => {
      const key = storeKeyOf(uid());
      const hostile = JSON.parse('{"__proto__":{"polluted":true},"ok":1,"inner":{"__proto__":{"polluted":true}}}') as StoredSession;
      await store.set(key, { ...sessionFor(Date.now(), 60_000), ...hostile }, 60_000, {});
      const loaded = (await store.get(key, 60_000, {})) as Record<string, unknown>;
      expect(loaded.ok).toBe(1);
      expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
      expect(Object.getPrototypeOf(loaded.inner)).toBe(Object.prototype);
      expect(loaded.polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      // Built-in stores drop the key; a foreign store may keep it, but only as an own data property.
      if ("__proto__" in loaded && Object.hasOwn(loaded, "__proto__")) {
        expect(Object.getOwnPropertyDescriptor(loaded, "__proto__")?.value).toEqual({ polluted: true });
      }
      await store.destroy(key, {});
    });

    it("holds no session id in its raw contents (keys are sha256 of the id)", async () => {
      const id = randomBytes(32).toString("base64url");
      const key = storeKeyOf(id);
      await store.set(key, sessionFor(Date.now(), 60_000, { _sk: { createdAt: Date.now(), userId: `dump-${uid()}` }, v: 1 }), 60_000, {});
      const dump = await harness.rawDump();
      expect(dump).toContain(key.slice(3)); // the dump really covers the entry
      expect(dump).not.toContain(id);
      await store.destroy(key, {});
    });

    if (options.core) return;
    const without = new Set(options.without);
    // A store without a method gets the absence test above instead of a skipped one: the run counts
    // only tests that ran.
    const itIfHas = (method: "touch" | "merge" | "listByUser" | "destroyByUser"): typeof it | ((...args: unknown[]) => void) =>
      without.has(method) ? () => undefined : it;
    for (const method of without) {
      it(`has no ${method} (documented fallback instead)`, () => {
        expect((store as unknown as Record<string, unknown>)[method]).toBeUndefined();
      });
    }

    itIfHas("touch")("touch extends the entry's life without changing its data", async () => {
      const touch = need(store.touch, "touch").bind(store);
      const key = storeKeyOf(uid());
      const created = Date.now();
      await store.set(key, sessionFor(created, shortMaxAge, { a: 1, list: [] }), shortMaxAge, {});
      const later = created + 50;
      await touch(key, { _expire: later + 60_000, _sk: { createdAt: created, lastSeenAt: later } }, 60_000, { changed: false });
      await pastShortMaxAge();
      const loaded = await store.get(key, 60_000, {});
      expect(loaded).toMatchObject({ a: 1, list: [], _expire: later + 60_000, _sk: { createdAt: created, lastSeenAt: later } });
      // touching a missing entry does not create it
      const missing = storeKeyOf(uid());
      await touch(missing, sessionFor(Date.now(), 60_000), 60_000, {});
      expect((await store.get(missing, 60_000, {})) ?? null).toBeNull();
      await store.destroy(key, {});
    });

    itIfHas("merge")("merge applies set/unset and reserved fields, and never recreates a destroyed entry", async () => {
      const merge = need(store.merge, "merge").bind(store);
      const key = storeKeyOf(uid());
      const now = Date.now();
      // "\u0000" is valid JSON text that PostgreSQL's jsonb refuses: a merge must still work.
      await store.set(key, sessionFor(now, 60_000, { keep: 1, drop: 2, change: 3, nul: "a\u0000b" }), 60_000, {});
      const reserved: SessionChanges["reserved"] = { _expire: now + 120_000, _maxAge: 120_000, _sk: { createdAt: now, lastSeenAt: now + 1 } };
      const changes: SessionChanges = { set: { change: 4, added: { x: [] } }, unset: ["drop"], reserved };
      expect(await merge(key, changes, 120_000, {})).toBe(true);
      const loaded = await store.get(key, 120_000, {});
      expect(loaded).toEqual({ keep: 1, change: 4, nul: "a\u0000b", added: { x: [] }, ...reserved });

      await store.destroy(key, {});
      expect(await merge(key, changes, 120_000, {})).toBe(false);
      expect((await store.get(key, 120_000, {})) ?? null).toBeNull();
    });

    itIfHas("merge")("a lone UTF-16 surrogate (valid JSON text, refused by jsonb) can be stored, merged and touched", async () => {
      const merge = need(store.merge, "merge").bind(store);
      const key = storeKeyOf(uid());
      const now = Date.now();
      await store.set(key, sessionFor(now, 60_000, { lone: "x\udc00y" }), 60_000, {});
      expect(await merge(key, { set: { more: 1 }, unset: [], reserved: { _expire: now + 60_000 } }, 60_000, {})).toBe(true);
      if (store.touch) await store.touch(key, { _expire: now + 90_000, _sk: { createdAt: now, lastSeenAt: now + 1 } }, 90_000, { changed: false });
      expect(await store.get(key, 60_000, {})).toMatchObject({ lone: "x\udc00y", more: 1 });
      await store.destroy(key, {});
    });

    itIfHas("merge")("an entry whose metadata has strings where times belong (hand-edited) still takes writes", async () => {
      const merge = need(store.merge, "merge").bind(store);
      const key = storeKeyOf(uid());
      const now = Date.now();
      const edited = { ...sessionFor(now, 60_000, { a: 1 }), _sk: { createdAt: "y", lastSeenAt: "z" } } as unknown as StoredSession;
      await store.set(key, edited, 60_000, {});
      expect(await merge(key, { set: { a: 2 }, unset: [], reserved: { _expire: now + 60_000, _sk: { createdAt: "y", lastSeenAt: now } as never } }, 60_000, {})).toBe(true);
      expect(await store.get(key, 60_000, {})).toMatchObject({ a: 2 });
      await store.destroy(key, {});
    });

    itIfHas("merge")("keeps all 50 of 50 parallel merges that each set their own key", async () => {
      const merge = need(store.merge, "merge").bind(store);
      const key = storeKeyOf(uid());
      const now = Date.now();
      await store.set(key, sessionFor(now, 60_000), 60_000, {});
      const reserved = { _expire: now + 60_000, _maxAge: 60_000, _sk: { createdAt: now } };
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => merge(key, { set: { [`k${i}`]: i }, unset: [], reserved }, 60_000, {})),
      );
      expect(results.every(Boolean)).toBe(true);
      const loaded = (await store.get(key, 60_000, {})) as Record<string, unknown>;
      for (let i = 0; i < 50; i++) expect(loaded[`k${i}`]).toBe(i);
      await store.destroy(key, {});
    });

    itIfHas("listByUser")("listByUser lists only the user's live sessions with metadata, newest activity first", async () => {
      const listByUser = need(store.listByUser, "listByUser").bind(store);
      const user = `user-${uid()}`;
      const other = `user-${uid()}`;
      const now = Date.now();
      const meta = (lastSeenAt: number, userId: string, ip: string) => ({
        _sk: { createdAt: now - 1000, lastSeenAt, userId, ip, userAgent: `agent ${ip}` },
      });
      const [older, newer, gone, short, foreign, anonymous] = Array.from({ length: 6 }, () => storeKeyOf(uid()));
      await store.set(older!, sessionFor(now, 60_000, meta(now - 500, user, "10.0.0.1")), 60_000, {});
      await store.set(newer!, sessionFor(now, 60_000, meta(now - 100, user, "10.0.0.2")), 60_000, {});
      await store.set(gone!, sessionFor(now, 60_000, meta(now, user, "10.0.0.3")), 60_000, {});
      await store.set(short!, sessionFor(now, shortMaxAge, meta(now, user, "10.0.0.4")), shortMaxAge, {});
      await store.set(foreign!, sessionFor(now, 60_000, meta(now, other, "10.0.0.5")), 60_000, {});
      await store.set(anonymous!, sessionFor(now, 60_000, { a: 1 }), 60_000, {});
      await store.destroy(gone!, {});
      await pastShortMaxAge();

      const list = await listByUser(user);
      expect(list.map((entry) => entry.key)).toEqual([newer, older]);
      expect(list[0]).toMatchObject({ key: newer, createdAt: now - 1000, lastSeenAt: now - 100, ip: "10.0.0.2", userAgent: "agent 10.0.0.2" });
      expect(list[0]!.expiresAt).toBeGreaterThan(Date.now());
      expect(await listByUser(`nobody-${uid()}`)).toEqual([]);
      for (const key of [older, newer, foreign, anonymous]) await store.destroy(key!, {});
    });

    itIfHas("destroyByUser")("destroyByUser destroys the user's sessions except the listed ones", async () => {
      const destroyByUser = need(store.destroyByUser, "destroyByUser").bind(store);
      const user = `user-${uid()}`;
      const other = `user-${uid()}`;
      const now = Date.now();
      const keys = Array.from({ length: 4 }, () => storeKeyOf(uid()));
      for (const key of keys) await store.set(key, sessionFor(now, 60_000, { _sk: { createdAt: now, userId: user } }), 60_000, {});
      const otherKey = storeKeyOf(uid());
      await store.set(otherKey, sessionFor(now, 60_000, { _sk: { createdAt: now, userId: other } }), 60_000, {});

      expect(await destroyByUser(user, { except: keys[0] })).toBe(3);
      expect(await store.get(keys[0]!, 60_000, {})).toBeTruthy();
      for (const key of keys.slice(1)) expect((await store.get(key, 60_000, {})) ?? null).toBeNull();
      expect(await store.get(otherKey, 60_000, {})).toBeTruthy();
      expect((await need(store.listByUser, "listByUser").call(store, user)).map((entry) => entry.key)).toEqual([keys[0]]);

      expect(await destroyByUser(user)).toBe(1);
      expect((await store.get(keys[0]!, 60_000, {})) ?? null).toBeNull();
      await store.destroy(otherKey, {});
    });
  });
}
