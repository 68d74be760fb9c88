import { describe, expect, it } from "vitest";
import { rawJsonOf } from "../../src/stores/json.js";
import { MemoryStore } from "../../src/stores/memory.js";
import type { StoredSession } from "../../src/stores/contract.js";
import { runStoreContract } from "./contract.js";

runStoreContract("MemoryStore", async () => {
  const store = new MemoryStore();
  // MemoryStore keeps its map private; the dump is every key it was given plus what it returns for it.
  const keys = new Set<string>();
  const set = store.set.bind(store);
  store.set = (key: string, session: StoredSession, maxAge) => {
    keys.add(key);
    return set(key, session, maxAge);
  };
  return {
    store,
    rawDump: async () => [...keys].map((key) => `${key} ${JSON.stringify(store.get(key))}`).join("\n"),
    cleanup: () => store.close(),
  };
});

describe("MemoryStore: every read returns an object of its own", () => {
  // A flat session is copied from a private template (parsed on its first read) rather than parsed per read.
  for (const [label, session] of [
    ["flat", { userId: "u1", n: 1, _sk: { createdAt: 1, userId: "u1" } }],
    ["nested", { userId: "u1", prefs: { theme: "dark" }, _sk: { createdAt: 1 } }],
  ] as const) {
    it(`${label}: mutating what get() returned never changes the next read`, () => {
      const store = new MemoryStore();
      store.set("k", structuredClone(session) as StoredSession, 60_000);
      for (let read = 0; read < 4; read++) {
        const got = store.get("k") as unknown as Record<string, unknown> & { _sk: Record<string, unknown> };
        expect(got).toEqual(session);
        expect(Object.isFrozen(got) || Object.isFrozen(got._sk)).toBe(false);
        expect(rawJsonOf(got)).toBe(JSON.stringify(session));
        got.userId = "mallory";
        got._sk.userId = "mallory";
        delete got.n;
        if (got.prefs) (got.prefs as { theme: string }).theme = "light";
      }
      // A write drops the template: the next reads see the new text.
      store.set("k", { userId: "u2" }, 60_000);
      expect(store.get("k")).toEqual({ userId: "u2" });
      expect(store.get("k")).toEqual({ userId: "u2" });
    });
  }
});
