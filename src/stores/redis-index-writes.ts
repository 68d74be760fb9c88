/**
 * When RedisStore writes a user's session index (`${keyPrefix}u:${userId}`, a sorted set of session
 * keys scored by expiry) — every write of a logged-in session used to, which cost about 10 µs of
 * server CPU and 5 µs of Redis CPU per write (bench/README.md).
 *
 * A score only has to *cover* its session's expiry: listByUser re-checks every member, so a score too
 * high costs nothing, while one too low would hide a live session from listSessions and
 * logoutEverywhere. So scores are rounded up to INDEX_STEP_MS, and a write skips the index while the
 * score this process last wrote for that session still covers the new expiry: one index write per
 * session per minute of activity, whatever the request rate. The index script never lowers a score
 * (redis-scripts.ts), so another process writing with a shorter maxAge cannot undercut what this
 * one remembers. A new session (`force`) always writes. An index write that is lost (a failover) is
 * repaired by the first write past the remembered score, within a minute of activity.
 */
import { VerifiedCache } from "../crypto/verified-cache.js";
import type { KeyCall } from "./redis-scripts.js";

/** Index scores are rounded up to this step. */
export const INDEX_STEP_MS = 60_000;
/** Sessions whose last score this process remembers (a few hundred kB at most). */
const REMEMBERED = 10_000;

export class IndexWrites {
  /**
   * Index key + session key → the score this process last wrote. Bounded like the cookie caches (two
   * generations; a first-in-first-out Map cost ~7 µs per write past 10,000 sessions, see
   * crypto/verified-cache.ts); a forgotten session just writes its index again.
   */
  readonly #written = new VerifiedCache<number>(REMEMBERED);

  /** @param send runs the index script for one call (batched per turn by RedisStore). */
  constructor(private readonly send: (call: KeyCall) => Promise<unknown>) {}

  /** Makes the index hold `key` with a score ≥ `expiresAt`; undefined when it already does. */
  record(indexKey: string, key: string, expiresAt: number, force = false): Promise<unknown> | undefined {
    const memoKey = `${indexKey}\n${key}`;
    if (!force && (this.#written.get(memoKey) ?? 0) >= expiresAt) return undefined;
    const score = Math.ceil(expiresAt / INDEX_STEP_MS) * INDEX_STEP_MS;
    // ARGV: score, member, now (members scored below now are pruned).
    return this.send({ key: indexKey, args: [String(score), key, String(Date.now())] }).then((result) => {
      this.#written.set(memoKey, score);
      return result;
    });
  }
}
