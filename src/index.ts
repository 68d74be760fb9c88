/**
 * koa-sessionkit: sessions, keys and login for Koa. A drop-in replacement for koa-session 7 that signs
 * with HMAC-SHA256, issues 256-bit ids, hands stores only a hash of the id, and seals cookie-mode
 * sessions with AES-256-GCM.
 *
 * @example
 * import session from "koa-sessionkit"; // was: import session from "koa-session"
 * app.keys = (process.env.SESSION_KEYS ?? "").split(","); // what `npx koa-sessionkit keys` prints
 * app.use(session({ key: "koa.sess", maxAge: 86_400_000, sameSite: "lax" }, app));
 *
 * @module koa-sessionkit
 */
import { session } from "./session/middleware.js";
import type { KoaSession, SessionOptions as Options } from "./session/types.js";

export { session };
/** koa-session 7's named export. */
export { session as createSession };
export default session;
export { contextSession, CONTEXT_SESSION } from "./session/middleware.js";
export type { ContextSession } from "./session/context-session.js";
export type { CommitOptions, SessionControl } from "./session/types.js";
export type { KoaApp } from "./koa-app.js";
export type { CreateSessionOptions, SessionData, SessionModel, KoaSession, SessionEvent, SameSite, CookiePriority, ExternalKeyAccessor } from "./session/types.js";
/** koa-session 7's runtime `SessionOptions` (`parse`, `safeParse`) and the options type, one name. */
export { SessionOptions, type SessionOptionsSchema, type ParsedSessionOptions, type SessionOptionsParseResult } from "./session/options-schema.js";
export { Session } from "./session/session.js";
export { Keyring, keyring, MIN_KEY_BYTES, type KeyInput } from "./crypto/keyring.js";
export { generateId, storeKeyFor } from "./crypto/ids.js";
export { MemoryStore, type MemoryStoreOptions } from "./stores/memory.js";
export {
  AUDIT_EVENTS,
  addAuditListener,
  auditEvent,
  sessionHandle,
  type AuditEvent,
  type AuditEventName,
  type AuditFields,
  type AuditListener,
} from "./events.js";
export * from "./stores/contract.js";
export { parseStored, serializeStored, safeParse, isDangerousKey } from "./stores/json.js";
export {
  SessionkitError,
  SessionConfigError,
  type SessionConfigErrorCode,
  StoreUnavailableError,
  SessionTooLargeError,
  StoreCapabilityError,
} from "./errors.js";

declare module "koa" {
  interface ExtendableContext {
    /**
     * The session; the middleware always provides one. (It reads `null` only after your own code
     * set `ctx.session = null` in this request, as in koa-session.)
     */
    get session(): KoaSession;
    set session(value: object | null);
    /** This request's options; `ctx.sessionOptions.maxAge = …` changes this request's session only. */
    readonly sessionOptions: Options;
  }
}
