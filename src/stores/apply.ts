/**
 * What `touch` and `merge` mean for a stored session object, in one place: every built-in store
 * applies them the same way, whether in memory, inside a compare-and-set loop or a transaction
 * (PostgreSQL does the same in jsonb, and uses these for its fallback).
 */
import { isDangerousKey } from "./deep-json.js";
import type { SessionChanges, StoredSession } from "./contract.js";

/** A touch: the new expiry and metadata (lastSeenAt…), the data untouched. */
export function applyTouch(stored: StoredSession, session: StoredSession): void {
  stored._expire = session._expire;
  if (session._sk) stored._sk = { ...stored._sk, ...session._sk };
}

/** A merge: drop the unset keys, write the changed ones (never a prototype key), then the reserved fields. */
export function applyChanges(stored: StoredSession, changes: SessionChanges): void {
  for (const name of changes.unset) delete stored[name];
  for (const [name, value] of Object.entries(changes.set)) {
    if (!isDangerousKey(name)) stored[name] = value;
  }
  Object.assign(stored, changes.reserved);
}
