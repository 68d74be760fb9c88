/**
 * Exact change detection. Each top-level key is compared by its JSON text against what was loaded:
 * unlike koa-session's CRC32 it cannot miss a change, and it says which keys changed, so stores with
 * `merge` write only those and parallel requests that touch different keys both survive.
 */
import type { SessionChanges, StoredSession } from "../stores/contract.js";

export function diffData(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  reserved: SessionChanges["reserved"],
): SessionChanges {
  const set: Record<string, unknown> = {};
  const unset: string[] = [];
  for (const key of Object.keys(after)) {
    if (!Object.prototype.hasOwnProperty.call(before, key) || JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
      set[key] = after[key];
    }
  }
  for (const key of Object.keys(before)) {
    if (!Object.prototype.hasOwnProperty.call(after, key)) unset.push(key);
  }
  return { set, unset, reserved };
}

/** Split a stored session into the user's data and the reserved fields. */
export function splitStored(stored: StoredSession, isDataKey: (key: string) => boolean): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(stored)) if (isDataKey(key)) data[key] = stored[key];
  return data;
}
