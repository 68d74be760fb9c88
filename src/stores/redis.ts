/**
 * RedisStore: sessions in Redis (single node, Sentinel or Cluster) through ioredis 5 or 6.
 *
 * Layout, chosen so every command touches one key and therefore one Cluster slot:
 * - `${keyPrefix}s:${key}` holds the session JSON with a PX expiry (the key is already a hash of the id);
 * - `${keyPrefix}u:${userId}` is a sorted set of that user's session keys, scored by expiry, expiring
 *   itself with the longest-lived member. It is an index only: listByUser re-checks every session.
 *
 * A read is one GET. A write is one SET, plus, when `_sk.userId` is set, one script on the user's
 * index at most once a minute per session (redis-index-writes.ts).
 * merge and touch are compare-and-set: apply the change in JS, then a Lua script writes only if the
 * entry still holds the text the change was computed from, and never recreates a missing entry.
 * Parallel writers to one session from this process are pipelined (cas-chain.ts). Outside a Cluster,
 * the reads of one event-loop turn go out as MGETs, its compare-and-sets as script calls and its
 * user-index updates likewise, up to eight calls to a command (turn-batch.ts, redis-scripts.ts):
 * under load, a command per eight requests instead of one per request.
 * Merging inside Lua with cjson was rejected: it turns `[]` into `{}` and rounds numbers to 14 digits.
 *
 * @example
 * import { RedisStore } from "koa-sessionkit/redis";
 * app.use(session({ store: new RedisStore({ url: process.env.REDIS_URL }) }, app));
 * // Sentinel: new RedisStore({ sentinels: [{ host, port }, …], name: "mymaster" })
 * // or share a client: new RedisStore({ client: new Redis(...) }) / an ioredis Cluster
 *
 * @module koa-sessionkit/redis
 */
import { debuglog } from "node:util";
import type { Cluster, Redis } from "ioredis";
import { parseStored, serializeStored } from "./json.js";
import { applyChanges, applyTouch } from "./apply.js";
import { CasChain, type CasMerge } from "./cas-chain.js";
import { casReply, flatten, scripts, type KeyCall, type RedisScript } from "./redis-scripts.js";
import { IndexWrites } from "./redis-index-writes.js";
import { TurnBatch } from "./turn-batch.js";
import { TextTemplates } from "./text-templates.js";
import { entryFromMeta, exceptKeys, newestFirst } from "./shared.js";
import {
  ttlMs,
  type MaxAge,
  type SessionChanges,
  type SessionListEntry,
  type SessionStore,
  type StoredSession,
} from "./contract.js";
import { SessionConfigError } from "../errors.js";
import { warnIfEvicting } from "./redis-eviction.js";
import { connectRedis, sendNow, type RedisStoreOptions, type SendNow } from "./redis-client.js";

export { failFastRedisOptions, type RedisStoreOptions } from "./redis-client.js";

const debug = debuglog("koa-sessionkit:redis");

/**
 * Sessions in Redis (single node, Sentinel or Cluster) through ioredis 5 or 6, an optional peer
 * dependency. Entries expire by Redis TTL; a per-user sorted set backs auth's listSessions and
 * logoutEverywhere; merge and touch are compare-and-set, so a logout is never undone by a
 * concurrent request. `close()` quits only a client the store created.
 *
 * @example
 * import { RedisStore } from "koa-sessionkit/redis";
 * const store = new RedisStore({ url: process.env.REDIS_URL }); // or { client }, or { sentinels, name }
 * app.use(session({ store }, app));
 * process.on("SIGTERM", () => void store.close());
 */
export class RedisStore implements SessionStore {
  /** The ioredis client or Cluster in use (yours, or the one the store created). */
  readonly client: Redis | Cluster;
  /** Prefix of every Redis key the store writes (sessions under `${keyPrefix}s:`, user indexes under `${keyPrefix}u:`). */
  readonly keyPrefix: string;
  readonly #ownsClient: boolean;
  /** Sends a batch's command at once, past ioredis's auto-pipeline when the client has it on (redis-client.ts). */
  readonly #now: SendNow;
  /** SCRIPT LOAD was sent since the client started or last answered NOSCRIPT (see #script). */
  #scriptsLoaded = false;
  /** Compare-and-set merges, pipelined per session (cas-chain.ts). */
  readonly #cas = new CasChain(
    (key, expected, next, userId, ttl) => this.#compareAndSet(key, expected, next, userId, ttl),
    (key) => this.client.get(this.#sessionKey(key)).catch(missingIfWrongType),
  );
  /** Session reads of one event-loop turn, sent as MGETs of up to MAX_BATCH keys (turn-batch.ts); none on a Cluster. */
  #reads: TurnBatch<string, string | null, StoredSession | null> | undefined;
  /** Compare-and-sets of one event-loop turn, sent as script calls over up to MAX_BATCH keys; none on a Cluster. */
  #writes: TurnBatch<KeyCall, 1 | 0 | string> | undefined;
  /** User-index updates of one event-loop turn (logged-in writes), one script call; none on a Cluster. */
  #indexes: TurnBatch<KeyCall, unknown> | undefined;
  /** Sessions read more than once lately: a read of an unchanged session copies a template instead of parsing (text-templates.ts). */
  readonly #templates = new TextTemplates();
  /** Which index writes can be skipped (redis-index-writes.ts). */
  readonly #indexWrites = new IndexWrites((call) => this.#indexCall(call));

  /**
   * @throws SessionConfigError when none or more than one of client/url/sentinels is given, the
   * sentinels are malformed, or ioredis is not installed (`ERR_SESSIONKIT_MISSING_PEER`).
   */
  constructor(options: RedisStoreOptions = {}) {
    const { keyPrefix = "sess:" } = options;
    if (typeof keyPrefix !== "string") throw new SessionConfigError("RedisStore keyPrefix must be a string");
    this.keyPrefix = keyPrefix;
    const { client, owned } = connectRedis(options);
    this.client = client;
    this.#ownsClient = owned;
    this.#now = sendNow(client);
    warnIfEvicting(client);
  }

  get(key: string): Promise<StoredSession | null> {
    // Not async: every request's read comes through here, and the async frame is one more promise.
    if (this.client.isCluster) return this.client.get(this.#sessionKey(key)).then((text) => this.#templates.parse(key, text), missingIfWrongType);
    // MGET answers nil for a key of another type; a lone GET rejects with WRONGTYPE, which must read
    // as no session too, not a 503 on every request. The batch parses each text itself (#templates:
    // text that does not parse reads as no session): no extra promise per read.
    this.#reads ??= new TurnBatch(
      (one) => this.#now(() => this.client.get(this.#sessionKey(one))).catch(missingIfWrongType),
      (many) => this.#now(() => this.client.mget(many.map((each) => this.#sessionKey(each)))),
      (text, one) => this.#templates.parse(one, text),
    );
    return this.#reads.call(key);
  }

  async set(key: string, session: StoredSession, maxAge: MaxAge | undefined): Promise<void> {
    const ttl = ttlMs(maxAge);
    const json = serializeStored(session);
    const userId = session._sk?.userId;
    // Two independent single-key commands: sent together, so still one round trip on one connection.
    await Promise.all([
      this.client.set(this.#sessionKey(key), json, "PX", ttl),
      userId === undefined ? undefined : this.#index(userId, key, Date.now() + ttl, true),
    ]);
  }

  /** Resolves whether an entry was removed: false tells the middleware another request won. */
  async destroy(key: string): Promise<boolean> {
    // The user index is left alone: listByUser prunes members whose session is gone.
    return (await this.client.del(this.#sessionKey(key))) > 0;
  }


  async touch(key: string, session: StoredSession, maxAge: MaxAge | undefined): Promise<void> {
    await this.#update(key, maxAge, undefined, (stored) => applyTouch(stored, session));
  }

  /** Not async: the chain's promise is handed back as is (every async layer costs a microtask per write). */
  merge(key: string, changes: SessionChanges, maxAge: MaxAge | undefined): Promise<boolean> {
    const hint =
      changes.base !== undefined && changes.result !== undefined
        ? { base: changes.base, result: changes.result, userId: changes.reserved._sk?.userId }
        : undefined;
    return this.#update(key, maxAge, hint, (stored) => applyChanges(stored, changes));
  }

  async listByUser(userId: string): Promise<SessionListEntry[]> {
    const indexKey = this.#userKey(userId);
    const now = Date.now();
    const members = await this.client.zrangebyscore(indexKey, now, "+inf", "WITHSCORES");
    const keys: string[] = [];
    const expiries: number[] = [];
    for (let i = 0; i + 1 < members.length; i += 2) {
      keys.push(members[i] as string);
      expiries.push(Number(members[i + 1]));
    }
    const texts = await this.#getMany(keys);
    const list: SessionListEntry[] = [];
    const dead: string[] = [];
    keys.forEach((key, i) => {
      const stored = parseStored(texts[i]);
      const meta = stored?._sk;
      // A member whose session is gone, or now belongs to someone else, is stale index data.
      if (!stored || meta?.userId !== userId) {
        dead.push(key);
        return;
      }
      // The score is rounded up (redis-index-writes.ts); the session's own expiry is the exact one.
      list.push(entryFromMeta(key, meta, typeof stored._expire === "number" ? stored._expire : (expiries[i] ?? now)));
    });
    if (dead.length > 0) await this.client.zrem(indexKey, ...dead);
    return newestFirst(list);
  }

  async destroyByUser(userId: string, options: { except?: string | string[] } = {}): Promise<number> {
    const except = new Set(exceptKeys(options.except));
    const indexKey = this.#userKey(userId);
    const victims = (await this.listByUser(userId)).map((entry) => entry.key).filter((key) => !except.has(key));
    if (victims.length === 0) return 0;
    // One DEL per key: in a Cluster the sessions live in different slots.
    const deleted = await Promise.all(victims.map((key) => this.client.del(this.#sessionKey(key))));
    await this.client.zrem(indexKey, ...victims);
    return deleted.reduce((sum, count) => sum + count, 0);
  }

  async close(): Promise<void> {
    if (!this.#ownsClient) return;
    try {
      await this.client.quit();
    } catch (error) {
      // quit fails when the connection is already down; disconnect stops the reconnect loop regardless.
      debug("quit failed, disconnecting: %s", (error as Error).message);
      this.client.disconnect();
    }
  }

  #sessionKey(key: string): string {
    return `${this.keyPrefix}s:${key}`;
  }

  #userKey(userId: string): string {
    return `${this.keyPrefix}u:${userId}`;
  }

  async #getMany(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    const full = keys.map((key) => this.#sessionKey(key));
    // MGET across slots is a CROSSSLOT error in a Cluster; there, concurrent GETs are the safe form.
    if (this.client.isCluster) return Promise.all(full.map((key) => this.client.get(key)));
    return this.client.mget(full);
  }

  /** Makes the user's index cover `key` until `expiresAt` (redis-index-writes.ts decides when to write). */
  #index(userId: string, key: string, expiresAt: number, force = false): Promise<unknown> | undefined {
    return this.#indexWrites.record(this.#userKey(userId), key, expiresAt, force);
  }

  #indexCall(call: KeyCall): Promise<unknown> {
    if (this.client.isCluster) return this.#scriptOver(scripts.index, [call], () => 1);
    this.#indexes ??= new TurnBatch<KeyCall, unknown>(
      (one) => this.#scriptOver(scripts.index, [one], () => 1),
      (many) => this.#scriptOver(scripts.index, many, () => many.map(() => 1)),
    );
    return this.#indexes.call(call);
  }

  /** Merge through the per-key compare-and-set chain (see cas-chain.ts). */
  #update(
    key: string,
    maxAge: MaxAge | undefined,
    hint: CasMerge["hint"],
    change: (stored: StoredSession) => void,
  ): Promise<boolean> {
    return this.#cas.merge(key, { change, hint, ttl: ttlMs(maxAge) });
  }

  /** One compare-and-set; the user index is updated alongside (pipelined), its score the expiry. */
  #compareAndSet(key: string, expected: string, next: string, userId: string | undefined, ttl: number): Promise<1 | 0 | string> {
    // The expected text itself, not a hash of it: a string compare in Lua is cheaper than hashing
    // on both sides, and sessions are small.
    const call: KeyCall = { key: this.#sessionKey(key), args: [expected, next, String(ttl)] };
    const written = this.client.isCluster ? this.#casOne(call) : (this.#writes ??= new TurnBatch((one) => this.#casOne(one), (many) => this.#casMany(many))).call(call);
    const indexed = userId === undefined ? undefined : this.#index(userId, key, Date.now() + ttl);
    return indexed === undefined ? written : Promise.all([written, indexed]).then(([result]) => result);
  }

  #casOne(call: KeyCall): Promise<1 | 0 | string> {
    return this.#casMany([call]).then(([result]) => result as 1 | 0 | string);
  }

  #casMany(calls: KeyCall[]): Promise<(1 | 0 | string)[]> {
    return this.#scriptOver(scripts.cas, calls, (results) => (results as unknown as (number | string)[]).map(casReply));
  }

  /** A script over these calls' keys (redis-scripts.ts): one call, or the calls of one turn. */
  #scriptOver<T>(script: RedisScript, calls: KeyCall[], reply: (result: number | string) => T): Promise<T> {
    const { keys, args } = flatten(calls);
    return this.#script(script, keys, args, reply);
  }

  /**
   * EVALSHA, falling back to EVAL when the script cache was flushed (restart, SCRIPT FLUSH). The first
   * call, and the first after a NOSCRIPT, sends SCRIPT LOAD ahead of it on the same connection, so a
   * fresh Redis costs no NOSCRIPT round trip per in-flight write. (Not on a Cluster: SCRIPT LOAD goes
   * to one node there; the fallback covers the others.)
   */
  #script<T = number | string>(script: RedisScript, keys: string[], args: string[], reply?: (result: number | string) => T): Promise<T> {
    if (!this.#scriptsLoaded && !this.client.isCluster) {
      this.#scriptsLoaded = true;
      for (const { lua } of Object.values(scripts)) {
        this.client.script("LOAD", lua).catch(() => {
          this.#scriptsLoaded = false;
        });
      }
    }
    const map = reply ?? ((result: number | string) => result as T);
    // One .then for both outcomes: a .catch and a .then would cost a second promise per write.
    const sent = this.#now(() => this.client.evalsha(script.sha, keys.length, ...keys, ...args) as Promise<number | string>);
    return sent.then(map, (error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      this.#scriptsLoaded = false;
      return (this.client.eval(script.lua, keys.length, ...keys, ...args) as Promise<number | string>).then(map);
    });
  }
}

export default RedisStore;

/** A key of another type under our prefix (not a session we wrote) reads as no session. */
function missingIfWrongType(error: unknown): null {
  if (error instanceof Error && error.message.startsWith("WRONGTYPE")) return null;
  throw error;
}
