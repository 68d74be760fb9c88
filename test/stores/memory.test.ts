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
