/**
 * How a commit reaches the store: the cheapest operation that is still correct.
 *
 *   refresh of unchanged data (rolling, renew, touch) → touch: no data rewrite
 *   changed data on an existing entry                 → merge: only the changed keys; never recreates
 *   anything else (new entry, forced save, no merge)  → set: the whole session
 */
import { parseStored, serializeStored } from "./codec.js";
import { diffData, splitStored } from "./changes.js";
import { isDataKey } from "./session.js";
import { callStore } from "./store-call.js";
import { spendStoreTime } from "../stores/deadline.js";
import type { MaxAge, SessionStore, StoredSession, StoreSetOptions } from "../stores/contract.js";

export type SaveReason = "" | "force" | "changed" | "rolling" | "renew" | "touch";

export interface StoreWrite {
  store: SessionStore;
  key: string;
  stored: StoredSession;
  data: Record<string, unknown>;
  /** The session's JSON as loaded or last saved; undefined for an entry not yet in the store. */
  previousJson: string | undefined;
  /** The data as loaded, when the controller still has it; otherwise it is parsed from previousJson. */
  previousData?: Record<string, unknown> | undefined;
  reason: SaveReason;
  ttl: MaxAge;
  timeout: number;
  setOptions: StoreSetOptions;
}

/** Resolves false when the entry turned out to be destroyed by another request (destroy wins). */
export async function writeToStore(write: StoreWrite): Promise<boolean> {
  const { store, key, stored, ttl, timeout, setOptions, previousJson, reason } = write;
  const exists = previousJson !== undefined;
  const scope = { ctx: setOptions.ctx, store };
  if (exists && (reason === "rolling" || reason === "renew" || reason === "touch") && store.touch) {
    await spendStoreTime(setOptions.ctx, "touch", timeout, (ms) => callStore("touch", ms, () => store.touch?.(key, stored, ttl, setOptions), scope));
    return true;
  }
  // A forced save (save(), a new maxAge) of an existing entry merges too, so it can't revive a
  // session that a concurrent logout destroyed.
  if (exists && (reason === "changed" || reason === "force") && store.merge) {
    const before = write.previousData ?? splitStored(parseStored(previousJson) ?? {}, isDataKey);
    const reserved = { _expire: stored._expire, _maxAge: stored._maxAge, _session: stored._session, _sk: stored._sk };
    const changes = diffData(before, write.data, reserved);
    changes.base = previousJson;
    changes.result = serializeStored(stored);
    const merged = await spendStoreTime(setOptions.ctx, "merge", timeout, (ms) => callStore("merge", ms, () => store.merge?.(key, changes, ttl, setOptions), scope));
    return merged !== false;
  }
  await spendStoreTime(setOptions.ctx, "set", timeout, (ms) => callStore("set", ms, () => store.set(key, stored, ttl, setOptions), scope));
  return true;
}
