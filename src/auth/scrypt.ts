/**
 * The scrypt fallback of password.ts, used only when @node-rs/argon2 cannot load. Internal: not
 * re-exported from `koa-sessionkit/auth`; tests import it to run with small parameters.
 *
 * Format: `$scrypt$ln=17,r=8,p=1$<salt base64>$<hash base64>` (unpadded standard base64, as PHC).
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from "node:crypto";

export interface ScryptParams {
  /** log2 of N, the CPU/memory cost. */
  ln: number;
  r: number;
  p: number;
}

/** N=2^17, r=8, p=1: OWASP's scrypt minimum; ~128 MiB and ~600 ms per hash on this machine. */
export const SCRYPT_DEFAULTS: Readonly<ScryptParams> = Object.freeze({ ln: 17, r: 8, p: 1 });
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PATTERN = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{16,64})\$([A-Za-z0-9+/]{16,128})$/;

/** Memory scrypt needs is 128·N·r bytes (plus 128·r·p); give it twice that so Node never refuses. */
export function scryptMaxmem(params: ScryptParams): number {
  return 2 * 128 * 2 ** params.ln * params.r + 128 * params.r * params.p + 1024 * 1024;
}

function derive(password: string, salt: Buffer, length: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** params.ln, r: params.r, p: params.p, maxmem: scryptMaxmem(params) };
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, length, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const b64 = (buffer: Buffer): string => buffer.toString("base64").replace(/=+$/, "");

export async function scryptHash(password: string, params: ScryptParams = SCRYPT_DEFAULTS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, params);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

/** The parameters of a scrypt hash, or undefined when it is not a well-formed one. */
export function parseScrypt(hash: string): (ScryptParams & { salt: Buffer; key: Buffer }) | undefined {
  const match = PATTERN.exec(hash);
  if (!match) return undefined;
  const [, ln, r, p, salt, key] = match as unknown as [string, string, string, string, string, string];
  const params = { ln: Number(ln), r: Number(r), p: Number(p) };
  // Bound the work an attacker-supplied hash can ask for (ln ≤ 20 is 1 GiB at r=8).
  if (params.ln < 1 || params.ln > 20 || params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) return undefined;
  return { ...params, salt: Buffer.from(salt, "base64"), key: Buffer.from(key, "base64") };
}

/** Constant-time compare of the derived key; false for a malformed hash. Never throws. */
export async function scryptVerify(hash: string, password: string): Promise<boolean> {
  const parsed = parseScrypt(hash);
  if (!parsed || parsed.key.length < 16) return false;
  try {
    const key = await derive(password, parsed.salt, parsed.key.length, parsed);
    return timingSafeEqual(key, parsed.key);
  } catch {
    return false;
  }
}
