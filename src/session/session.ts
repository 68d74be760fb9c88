/**
 * The session model: what a handler sees as `ctx.session`. User data lives in own properties, so
 * `ctx.session.views = 1` works as in koa-session. The API (isNew, save, …) lives on the prototype as
 * accessors and methods, and the controller is a #private field, so no stored key can shadow or replace
 * it; reserved fields (`_expire`, `_maxAge`, `_session`, `_sk`) are never loaded into, nor saved from,
 * the handler's object.
 */
import { inspect } from "node:util";
import type { MaxAge, StoredSession } from "../stores/contract.js";
import { isDangerousKey } from "../stores/json.js";
import { SessionConfigError } from "../errors.js";

/** The slice of the per-request controller that the model needs. */
export interface SessionController {
  readonly isNew: boolean;
  readonly externalKey: string | undefined;
  maxAge: MaxAge | undefined;
  requireSave(): void;
  commit(options?: { save?: boolean; regenerate?: boolean }): Promise<void>;
}

/** The library's own fields of a stored session, beside the user's data. */
export type ReservedFields = Pick<StoredSession, "_expire" | "_maxAge" | "_session" | "_sk">;
export const RESERVED_NAMES = ["_expire", "_maxAge", "_session", "_sk"] as const;
export const RESERVED_FIELDS: ReadonlySet<string> = new Set(RESERVED_NAMES);
const API_NAMES: ReadonlySet<string> = new Set([
  "isNew", "populated", "length", "maxAge", "externalKey", "save", "regenerate", "manuallyCommit", "toJSON", "commit",
]);

/** True for a top-level key that belongs to the user's data. */
export function isDataKey(key: string): boolean {
  return !RESERVED_FIELDS.has(key) && !API_NAMES.has(key) && !isDangerousKey(key);
}

/**
 * A stored session split into the user's data and the reserved fields. Every reserved name is a key
 * of `reserved`, undefined when absent, so a merge that applies it also removes a dropped `_maxAge`.
 */
export function splitReserved(stored: StoredSession): { data: Record<string, unknown>; reserved: ReservedFields } {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(stored)) if (isDataKey(key)) data[key] = stored[key];
  return { data, reserved: reservedOf(stored) };
}

/** The reserved fields of a stored session, every name present (see splitReserved). */
export function reservedOf(stored: StoredSession): ReservedFields {
  return { _expire: stored._expire, _maxAge: stored._maxAge, _session: stored._session, _sk: stored._sk };
}

/**
 * The class of `ctx.session` (see {@link SessionModel}); exported for `instanceof` and koa-session
 * parity. The middleware creates it; applications never need to.
 */
export class Session {
  readonly #controller: SessionController;

  /** @internal Made by the middleware, bound to one request's controller. */
  constructor(controller: SessionController, data?: Record<string, unknown>) {
    this.#controller = controller;
    if (data) {
      // Assignment is safe here because isDataKey already refused every name that has a setter on
      // the way up (the API accessors on Session.prototype, `__proto__` on Object.prototype): every
      // other key becomes an own data property, as defineProperty would make it, at a tenth of the
      // cost (0.5 µs per request for two keys with defineProperty).
      for (const key of Object.keys(data)) {
        if (isDataKey(key)) (this as Record<string, unknown>)[key] = data[key];
      }
    }
  }

  /** True when this request started the session (no valid cookie came in). */
  get isNew(): boolean {
    return this.#controller.isNew;
  }

  /** How many fields of yours the session holds. */
  get length(): number {
    return Object.keys(this.toJSON()).length;
  }

  /** True when the session holds at least one field of yours. */
  get populated(): boolean {
    return this.length > 0;
  }

  /**
   * This session's lifetime (ms or "session"). Setting it validates the value (SessionConfigError,
   * `ERR_SESSIONKIT_MISUSE`) and saves the session with the new lifetime at commit.
   */
  get maxAge(): MaxAge | undefined {
    return this.#controller.maxAge;
  }

  /** Change this session's lifetime: a positive number of ms or "session"; saved at commit. */
  set maxAge(value: MaxAge | undefined) {
    if (value !== "session" && value !== undefined && (typeof value !== "number" || !(value > 0))) {
      throw new SessionConfigError(`session.maxAge must be a positive number of ms or "session", got ${String(value)}`, "ERR_SESSIONKIT_MISUSE");
    }
    this.#controller.maxAge = value;
    this.#controller.requireSave();
  }

  /** The store key of this session (a hash of the id, safe to log and to pass to store methods). */
  get externalKey(): string | undefined {
    return this.#controller.externalKey;
  }

  /** Save now, even if nothing changed. */
  save(): Promise<void>;
  /** koa-session's callback style: returns undefined. */
  save(callback: (err?: unknown) => void): undefined;
  save(callback?: (err?: unknown) => void): Promise<void> | undefined {
    return withCallback(this.#controller.commit({ save: true }), callback);
  }

  /** Move the session to a new id (the old one is destroyed), keeping its data. */
  regenerate(): Promise<void>;
  /** koa-session's callback style: returns undefined. */
  regenerate(callback: (err?: unknown) => void): undefined;
  regenerate(callback?: (err?: unknown) => void): Promise<void> | undefined {
    return withCallback(this.#controller.commit({ regenerate: true }), callback);
  }

  /** Commit now; for `autoCommit: false`. */
  manuallyCommit(): Promise<void> {
    return this.#controller.commit();
  }

  /** The user's data: own enumerable keys, without reserved fields or functions. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(this)) {
      const value = (this as Record<string, unknown>)[key];
      if (typeof value === "function" || !isDataKey(key)) continue;
      out[key] = value;
    }
    return out;
  }

  /** `console.log(ctx.session)` shows your fields only. */
  [inspect.custom](): Record<string, unknown> {
    return this.toJSON();
  }
}

function withCallback(promise: Promise<void>, callback?: (err?: unknown) => void): Promise<void> | undefined {
  if (!callback) return promise;
  promise.then(() => callback(), callback);
  return undefined;
}
