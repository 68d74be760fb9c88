/**
 * Exact change detection. Each top-level key is compared by its JSON text against what was loaded:
 * unlike koa-session's CRC32 it cannot miss a change, and it says which keys changed, so stores with
 * `merge` write only those and parallel requests that touch different keys both survive.
 */
import type { SessionChanges } from "../stores/contract.js";
import { sameJson, stringifyJson } from "../stores/deep-json.js";

export { sameJson };

export function diffData(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  reserved: SessionChanges["reserved"],
): SessionChanges {
  const set: Record<string, unknown> = {};
  const unset: string[] = [];
  for (const key of Object.keys(after)) {
    if (!Object.prototype.hasOwnProperty.call(before, key) || !sameValue(before[key], after[key])) set[key] = after[key];
  }
  for (const key of Object.keys(before)) {
    if (!Object.prototype.hasOwnProperty.call(after, key)) unset.push(key);
  }
  return { set, unset, reserved };
}

/** `loaded` came from JSON; `current` may hold anything a handler put there (Dates, undefined…). */
function sameValue(loaded: unknown, current: unknown): boolean {
  if (current === null || (typeof current !== "object" && typeof current !== "function")) {
    // Primitives compare directly; JSON turns NaN and ±Infinity into null, so they count as changed.
    return loaded === current;
  }
  return sameJson(loaded, JSON.parse(stringifyJson(current) ?? "null"));
}
