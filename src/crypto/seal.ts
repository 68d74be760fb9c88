/**
 * AES-256-GCM sealing for cookie-mode sessions. Each key of app.keys yields its own encryption key
 * through HKDF-SHA256 (the raw key is never used to encrypt). A token names its format version and
 * key id, so opening needs no trial decryption, and the cookie name is bound as additional
 * authenticated data, so a sealed value cannot be replayed under another cookie name.
 *
 * Token: "v1." + base64url( kid[4] | nonce[12] | ciphertext | tag[16] )
 * Plaintext: issuedAt (float64 BE, ms) | expiresAt (float64 BE, ms; 0 = none) | payload (UTF-8)
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomFillSync } from "node:crypto";
import type { Keyring } from "./keyring.js";

const VERSION = "v1.";
const KID_BYTES = 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 16;
const MIN_TOKEN_BYTES = KID_BYTES + NONCE_BYTES + HEADER_BYTES + TAG_BYTES;
/** Larger tokens can't be a cookie we issued; refuse before decoding. */
const MAX_TOKEN_CHARS = 8192;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface Opened {
  payload: string;
  issuedAt: number;
  expiresAt: number | undefined;
  /** 0 when sealed with the current key; > 0 means it should be re-sealed (rotation). */
  keyIndex: number;
}

interface SealKey {
  kid: Buffer;
  key: Buffer;
}

export class Sealer {
  readonly #keys: SealKey[];
  /** Key index by kid, read as a 32-bit number: no string per request. */
  readonly #byKid = new Map<number, number>();
  /** The additional authenticated data per cookie name (a middleware uses one or two names). */
  readonly #aad = new Map<string, Buffer>();

  constructor(keyring: Keyring) {
    this.#keys = keyring.keys.map((raw) => {
      const key = Buffer.from(hkdfSync("sha256", raw, Buffer.alloc(0), "koa-sessionkit cookie seal v1", 32));
      const kid = createHash("sha256").update(key).digest().subarray(0, KID_BYTES);
      return { kid, key };
    });
    this.#keys.forEach(({ kid }, index) => {
      const id = kid.readUInt32BE(0);
      if (!this.#byKid.has(id)) this.#byKid.set(id, index);
    });
  }

  seal(payload: string, cookieName: string, issuedAt: number, expiresAt: number | undefined): string {
    const { kid, key } = this.#keys[0] as SealKey;
    const nonce = randomFillSync(Buffer.allocUnsafe(NONCE_BYTES));
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeDoubleBE(issuedAt, 0);
    header.writeDoubleBE(expiresAt ?? 0, 8);
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(this.#aadFor(cookieName));
    const body = Buffer.concat([cipher.update(header), cipher.update(payload, "utf8"), cipher.final()]);
    return VERSION + Buffer.concat([kid, nonce, body, cipher.getAuthTag()]).toString("base64url");
  }

  #aadFor(cookieName: string): Buffer {
    let known = this.#aad.get(cookieName);
    if (known === undefined) {
      known = aad(cookieName);
      if (this.#aad.size < MAX_AAD_NAMES) this.#aad.set(cookieName, known);
    }
    return known;
  }

  /** The payload, or null for anything that is not a token we sealed for this cookie name. Never throws. */
  open(token: string, cookieName: string): Opened | null {
    if (typeof token !== "string" || token.length > MAX_TOKEN_CHARS || !token.startsWith(VERSION)) return null;
    const encoded = token.slice(VERSION.length);
    if (!BASE64URL.test(encoded)) return null;
    const bytes = Buffer.from(encoded, "base64url");
    // Node's decoder skips stray characters and ignores the last character's spare bits, so many
    // spellings decode to the same bytes; only the canonical one is a token we issued.
    if (bytes.length < MIN_TOKEN_BYTES || bytes.toString("base64url") !== encoded) return null;
    const keyIndex = this.#byKid.get(bytes.readUInt32BE(0));
    if (keyIndex === undefined) return null;
    const nonce = bytes.subarray(KID_BYTES, KID_BYTES + NONCE_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    const body = bytes.subarray(KID_BYTES + NONCE_BYTES, bytes.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv("aes-256-gcm", (this.#keys[keyIndex] as SealKey).key, nonce);
      decipher.setAAD(this.#aadFor(cookieName));
      decipher.setAuthTag(tag);
      const plain = decipher.update(body);
      // GCM is a stream mode: final() only checks the tag (throws on a mismatch) and returns nothing.
      const rest = decipher.final();
      if (rest.length > 0) throw new Error("unexpected trailing plaintext");
      const issuedAt = plain.readDoubleBE(0);
      const expiresAt = plain.readDoubleBE(8);
      return {
        payload: plain.toString("utf8", HEADER_BYTES),
        issuedAt,
        expiresAt: expiresAt === 0 ? undefined : expiresAt,
        keyIndex,
      };
    } catch {
      return null; // wrong key, flipped bit, truncated tag, other cookie name
    }
  }
}

function aad(cookieName: string): Buffer {
  return Buffer.from(`koa-sessionkit/v1 cookie=${cookieName}`, "utf8");
}

/** Names remembered with their AAD; a caller passing many names gets a fresh buffer past this. */
const MAX_AAD_NAMES = 16;
