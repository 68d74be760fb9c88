/**
 * What the store holds for this request's session, as far as the controller knows: the JSON text as
 * loaded or last saved, and, when every top-level value was a primitive (the usual
 * `{ userId, role }`), those keys and values. With the primitives, "unchanged?" is a value-by-value
 * comparison (no JSON on a read-only request) and a write needs no re-parse to find what changed.
 */
import { parseStored } from "../stores/json.js";
import { diffData, sameJson } from "./changes.js";
import { RESERVED_NAMES, splitReserved, type ReservedFields } from "./session.js";

type Data = Record<string, unknown>;

export class Snapshot {
  /** JSON text as loaded or last saved; undefined for a session not in the store yet. */
  json: string | undefined;
  #keys: string[] | undefined;
  #values: unknown[] | undefined;

  /** Remember the text the store holds and the session's data as it stands now. */
  remember(json: string | undefined, data: object): void {
    this.json = json;
    const keys = Object.keys(data);
    const values = keys.map((key) => (data as Data)[key]);
    const primitive = values.every((value) => value === null || (typeof value !== "object" && typeof value !== "function"));
    this.#keys = primitive ? keys : undefined;
    this.#values = primitive ? values : undefined;
  }

  /** The session is no longer (or not yet) in the store. */
  forget(): void {
    this.json = this.#keys = this.#values = undefined;
  }

  get hasPrimitives(): boolean {
    return this.#keys !== undefined;
  }

  /** True when `data` still holds exactly the primitives remembered, in the same order. */
  samePrimitives(data: object): boolean {
    const keys = this.#keys;
    const values = this.#values;
    if (!keys || !values) return false;
    const current = Object.keys(data);
    if (current.length !== keys.length) return false;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (current[i] !== key || (data as Data)[key] !== values[i]) return false;
    }
    return true;
  }

  /** The remembered data, when it was all primitives (so nothing could have mutated it since). */
  data(): Data | undefined {
    const keys = this.#keys;
    const values = this.#values;
    if (!keys || !values) return undefined;
    const data: Data = {};
    keys.forEach((key, index) => (data[key] = values[index]));
    return data;
  }

  /**
   * The exact check behind a text mismatch: per-key data and the reserved fields, compared as values.
   * Runs only when a store handed back text spelled differently from ours, or something changed.
   */
  differs(data: Data, reserved: ReservedFields): boolean {
    const saved = parseStored(this.json);
    if (!saved) return true;
    const before = splitReserved(saved);
    const changes = diffData(before.data, data, before.reserved);
    if (Object.keys(changes.set).length > 0 || changes.unset.length > 0) return true;
    return !RESERVED_NAMES.every((name) => sameJson(reserved[name], before.reserved[name]));
  }
}
