/**
 * RedisStore's Lua scripts. Each runs over any number of keys, one for a lone call (and on a
 * Cluster, where one call must stay in one slot) or the calls of one event-loop turn (turn-batch.ts):
 * the keys as KEYS, each key's arguments back to back in ARGV, applied one key after another, so
 * two entries for one key behave as two calls in a row.
 */
import { createHash } from "node:crypto";
import { debuglog } from "node:util";

const debug = debuglog("koa-sessionkit:redis");

/**
 * For each key, writes its `next` text only if the key still holds exactly its `expected` text.
 * ARGV holds (expected, next, ttl) per key; the reply has one result per key: 1 written, 0 gone, or
 * the current text when another writer got there first (so a retry needs no separate GET).
 */
const COMPARE_AND_SET = `
local results = {}
for i = 1, #KEYS do
  local at = (i - 1) * 3
  -- pcall: a key of another type under our prefix (not ours to read) counts as gone, rather than
  -- failing the whole batch, and with it other users' writes, with WRONGTYPE.
  local current = redis.pcall('GET', KEYS[i])
  if type(current) == 'table' then current = false end
  if not current then results[i] = 0
  elseif current ~= ARGV[at + 1] then results[i] = current
  else
    redis.call('SET', KEYS[i], ARGV[at + 2], 'PX', ARGV[at + 3])
    results[i] = 1
  end
end
return results`;

/**
 * For each user index (KEYS), with ARGV (score, member, now) per key: adds the member scored by its
 * expiry, drops members expired by now and lets the index live as long as its newest entry. A score
 * only ever rises (ZADD GT, written out for Redis < 6.2): each process skips index writes while the
 * score it last wrote still covers the session's expiry (redis-index-writes.ts), which is only safe
 * if no other process's write, with a shorter maxAge, can lower it.
 */
const INDEX_ADD = `
for i = 1, #KEYS do
  local at = (i - 1) * 3
  -- The index is derived data under our prefix: a key of another type there (WRONGTYPE) is
  -- replaced, rather than failing the whole batch, and with it other users' logins.
  local current = redis.pcall('ZSCORE', KEYS[i], ARGV[at + 2])
  if type(current) == 'table' and current.err then
    redis.call('DEL', KEYS[i])
    current = false
  end
  if (not current) or tonumber(current) < tonumber(ARGV[at + 1]) then redis.call('ZADD', KEYS[i], ARGV[at + 1], ARGV[at + 2]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[at + 3])
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', KEYS[i], last[2]) end
end
return #KEYS`;

export interface RedisScript {
  lua: string;
  /** EVALSHA's name for it. SHA-1 because Redis names scripts so; nothing is signed with it. */
  sha: string;
}

const script = (lua: string): RedisScript => ({ lua, sha: createHash("sha1").update(lua).digest("hex") });

export const scripts = { cas: script(COMPARE_AND_SET), index: script(INDEX_ADD) } as const;

/** One script call on one key: the full Redis key and that key's ARGV. */
export interface KeyCall {
  key: string;
  args: string[];
}

/** The KEYS and ARGV of a script call for these calls. */
export function flatten(calls: readonly KeyCall[]): { keys: string[]; args: string[] } {
  const keys: string[] = [];
  const args: string[] = [];
  for (const call of calls) {
    keys.push(call.key);
    for (const arg of call.args) args.push(arg);
  }
  return { keys, args };
}

/** A compare-and-set reply: 1 written, 0 gone, or the text another writer left. */
export function casReply(result: number | string): 1 | 0 | string {
  if (result === 1 || result === 0) return result;
  debug("merge conflict");
  return String(result);
}
