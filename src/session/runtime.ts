/**
 * What one `session()` middleware shares across its requests, and the seams to optional parts
 * (the koa-session legacy reader).
 */
import type { Context } from "koa";
import type { VerifiedCache } from "../crypto/verified-cache.js";
import type { SessionStore, StoredSession } from "../stores/contract.js";
import type { OpenedCookie } from "./load.js";
import type { ResolvedOptions } from "./options.js";
import type { Transport } from "./transport.js";

/** A koa-session 7 session found on this request (see legacy.ts). */
export interface LegacySession {
  /** The session; null when the koa-session cookie verified but its entry is gone (session:missed). */
  stored: StoredSession | null;
  /** The koa-session store key to destroy once the session is re-issued. */
  legacyStoreKey?: string;
  /**
   * Store mode: the id the session is re-issued under, derived from the koa-session id, so parallel
   * first requests with one koa-session cookie all land on one new session instead of racing.
   */
  successor?: { id: string; storeKey: string };
  /** The koa-session entry was gone but a parallel request had just re-issued it under `successor`. */
  alreadyMoved?: boolean;
}

export interface LegacyReader {
  /** Store mode: the koa-session session this request carries (Keygrip-signed id → entry under the raw id). */
  read(ctx: Context, store: SessionStore): Promise<LegacySession | undefined>;
  /** Cookie mode: the koa-session cookie-mode session (Keygrip-signed base64 JSON) this request carries. */
  readCookie(ctx: Context): StoredSession | undefined;
}

/** Shared by every request of one `session()` middleware: options and caches. */
export interface SharedState {
  options: ResolvedOptions;
  /** Cookie text → index of the key that verified it (store mode). */
  verified: VerifiedCache<number>;
  /** Session id → store key, so a returning cookie costs no SHA-256. */
  storeKeys: VerifiedCache<string>;
  /** Cookie mode: sealed text → what it opened to. */
  opened: VerifiedCache<OpenedCookie>;
  legacy: LegacyReader | undefined;
}

export interface Runtime extends SharedState {
  /** How this request's session travels (chosen once in session(); per request only for ContextStore). */
  transportFor(ctx: Context): Transport;
}

