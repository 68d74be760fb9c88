/**
 * Loading: what the request brings, decided before the handler reads `ctx.session`.
 *
 *   store mode:  verified id cookie → store key (cached sha256) → one store read
 *   cookie mode: sealed cookie → opened (cached) → expiry checked on every request
 *   both:        when nothing of ours is accepted, the koa-session legacy reader gets one try
 *
 * A load never throws on client input: anything unusable is "no session", and `stale` tells the
 * controller to clear the cookie the client keeps sending.
 */
import type { Context } from "koa";
import { debuglog } from "node:util";
import { logTag, storeKeyFor } from "../crypto/ids.js";
import { auditEvent } from "../events.js";
import type { Sealer } from "../crypto/seal.js";
import type { MaxAge, SessionStore, StoredSession } from "../stores/contract.js";
import { normalizeStored } from "./codec.js";
import { openSealedCookie, readSessionId, rejectReason } from "./incoming.js";
import type { Runtime } from "./runtime.js";
import { callStore } from "./store-call.js";
import { spendStoreTime } from "../stores/deadline.js";
import type { SessionEvent } from "./types.js";

const debug = debuglog("koa-sessionkit:session");

export interface Loaded {
  /** The accepted session; undefined when the request carries none we can use. */
  stored?: StoredSession | undefined;
  /** Store mode: the session id and its store key. */
  id?: string | undefined;
  storeKey?: string | undefined;
  /** An older key verified the cookie: re-sign (store mode) or re-seal (cookie mode) under the first. */
  reissue: boolean;
  /** The signature the client sent, when the first key made it: re-sent as is. */
  signedId?: { id: string; signature: string } | undefined;
  /** The client sent a session cookie that is not used: clear it so it stops costing a verification. */
  stale: boolean;
  /** Accepted once from koa-session: save it in koa-sessionkit's format, then forget the legacy entry. */
  legacy?: { storeKey: string | undefined } | undefined;
}

const NOTHING: Loaded = Object.freeze({ reissue: false, stale: false });

/** Store mode. At most one store read for our cookie, plus one for a koa-session cookie when `legacy` is on. */
export async function loadFromStore(ctx: Context, runtime: Runtime, store: SessionStore, maxAge: MaxAge | undefined): Promise<Loaded> {
  const { options } = runtime;
  const incoming = readSessionId(ctx, options, runtime.verified);
  const id = incoming.id;
  if (id !== undefined) {
    let storeKey = runtime.storeKeys.get(id);
    if (storeKey === undefined) {
      storeKey = storeKeyFor(id, options.prefix);
      runtime.storeKeys.set(id, storeKey);
    }
    const stored = normalizeStored(
      await spendStoreTime(ctx, "get", options.storeTimeout, (ms) =>
        callStore("get", ms, () => store.get(storeKey, maxAge, { rolling: options.rolling, ctx }), { ctx, store }),
      ),
    );
    if (accept(ctx, runtime, stored, storeKey)) {
      return {
        stored: stored as StoredSession,
        id,
        storeKey,
        reissue: incoming.keyIndex > 0,
        signedId: incoming.signature === undefined ? undefined : { id, signature: incoming.signature },
        stale: false,
      };
    }
  }
  const stale = incoming.stale || id !== undefined;
  if (runtime.legacy) {
    const found = await runtime.legacy.read(ctx, store);
    const stored = found ? normalizeStored(found.stored) : null;
    if (found && accept(ctx, runtime, stored, found.legacyStoreKey)) {
      return adoptLegacy(stored as StoredSession, found.legacyStoreKey);
    }
  }
  // A cookie that failed verification (and was no koa-session cookie either): forged, tampered,
  // or signed with a key that was retired.
  if (incoming.stale) auditEvent(ctx, "session.invalid_signature", { reason: "id cookie failed verification" });
  return stale ? { reissue: false, stale } : NOTHING;
}

/** Cookie mode: open the sealed cookie (called lazily, on first access to ctx.session). */
export function loadFromCookie(ctx: Context, runtime: Runtime): Loaded {
  const { options } = runtime;
  const sealed = openSealedCookie(ctx, options, runtime.sealer as Sealer, runtime.opened);
  if (sealed.kind === "none") return NOTHING;
  if (sealed.kind === "unopened") {
    const legacy = runtime.legacy?.readCookie(ctx);
    const stored = legacy ? normalizeStored(legacy) : null;
    if (stored && accept(ctx, runtime, stored, undefined)) return adoptLegacy(stored, undefined);
    debug("sealed cookie %s did not open; starting a fresh session", logTag(sealed.token));
    auditEvent(ctx, "session.invalid_signature", { reason: "sealed cookie did not open" });
  } else if (sealed.kind === "expired") {
    emit(ctx, "expired", { key: undefined, value: undefined, ctx });
    auditEvent(ctx, "session.expired", { reason: "cookie expired" });
  } else if (accept(ctx, runtime, sealed.stored, undefined)) {
    return { stored: sealed.stored as StoredSession, reissue: sealed.keyIndex > 0, stale: false };
  }
  return { reissue: false, stale: true };
}

function adoptLegacy(stored: StoredSession, storeKey: string | undefined): Loaded {
  debug("accepted a koa-session session once; re-issuing it in koa-sessionkit's format");
  return { stored, reissue: false, stale: false, legacy: { storeKey } };
}

/** Accepted unless missing, expired or refused by the app's `valid`; each refusal is a koa-session event. */
function accept(ctx: Context, runtime: Runtime, stored: StoredSession | null, key: string | undefined): boolean {
  const reason = rejectReason(ctx, runtime.options, stored);
  if (reason) emit(ctx, reason, { key, value: stored, ctx });
  if (reason === "expired") {
    const userId = stored?._sk?.userId;
    auditEvent(ctx, "session.expired", { userId: typeof userId === "string" ? userId : undefined, storeKey: key, reason: "session expired" });
  }
  return reason === null;
}

export function emit(ctx: Context, event: "missed" | "expired" | "invalid" | "legacy-kept", data: SessionEvent): void {
  debug("session %s", event);
  // After the response path has moved on, as koa-session does: a listener can't delay the request.
  setImmediate(() => ctx.app.emit(`session:${event}`, data));
}
