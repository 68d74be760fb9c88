/**
 * Session ids: 32 bytes (256 bits) from the OS CSPRNG, base64url (43 characters). koa-session uses
 * 122-bit UUIDs. Stores never see the id itself, only `prefix + sha256(id)`, so a dump of the store
 * holds no usable cookie.
 */
// The namespace import feature-detects crypto.hash, which older @types/node do not declare.
import * as crypto from "node:crypto";
import { createHash, randomFillSync } from "node:crypto";

const ID_BYTES = 32;
// One randomFillSync call serves 128 ids: per-id randomBytes(32) costs ~4.5 µs, a slice ~0.2 µs.
const POOL_BYTES = ID_BYTES * 128;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

export const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A new session id: 32 random bytes (256 bits) as 43 base64url characters. The middleware's default genid. */
export function generateId(): string {
  if (offset + ID_BYTES > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString("base64url", offset, offset + ID_BYTES);
  // Zero the used bytes so a later heap dump of the pool shows no issued id.
  pool.fill(0, offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}

/** The store key for an id. SHA-256 suffices: the id already has 256 bits of entropy. */
export function storeKeyFor(id: string, prefix = ""): string {
  return prefix + sha256(id);
}

type OneShot = (algorithm: string, data: string, encoding: "base64url") => string;
// crypto.hash (Node >= 20.12) skips the Hash object: a third of the cost of createHash().digest().
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

function sha256(text: string): string {
  return oneShot ? oneShot("sha256", text, "base64url") : createHash("sha256").update(text).digest("base64url");
}

/** A short, non-reversible tag for logs: never log an id or a cookie. */
export function logTag(value: string): string {
  return sha256(value).slice(0, 8);
}
