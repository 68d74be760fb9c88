/**
 * Where loginThrottle keeps its failure counters: memory (one process), Redis or PostgreSQL (shared
 * by every instance of the app). Each counter is a fixed window: it starts at the first failure and
 * expires `windowMs` later; the failure that reaches the limit re-arms it to expire `blockMs` later,
 * which is the lockout.
 *
 * Internal to throttle.ts. The client types are structural, so neither ioredis nor pg is imported.
 */

export interface Counter {
  count: number;
  /** ms until the counter (or the lockout) expires. */
  msLeft: number;
}

export interface FailureBackend {
  peek(key: string): Promise<Counter | null>;
  hit(key: string, windowMs: number, limit: number, blockMs: number): Promise<Counter>;
  reset(key: string): Promise<void>;
}

/** The slice of an ioredis client used here. */
export interface RedisLike {
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

/** The slice of a pg Pool (or Client) used here. */
export interface PgLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

export class MemoryBackend implements FailureBackend {
  readonly #counters = new Map<string, { count: number; expiresAt: number }>();
  readonly #max: number;

  /** `max` bounds memory: past it, expired counters go first, then the oldest. */
  constructor(max = 100_000) {
    this.#max = max;
  }

  async peek(key: string): Promise<Counter | null> {
    const entry = this.#counters.get(key);
    const now = Date.now();
    if (!entry) return null;
    if (entry.expiresAt <= now) {
      this.#counters.delete(key);
      return null;
    }
    return { count: entry.count, msLeft: entry.expiresAt - now };
  }

  async hit(key: string, windowMs: number, limit: number, blockMs: number): Promise<Counter> {
    const now = Date.now();
    let entry = this.#counters.get(key);
    if (!entry || entry.expiresAt <= now) {
      entry = { count: 0, expiresAt: now + windowMs };
      this.#counters.set(key, entry);
      this.#evict(now);
    }
    entry.count++;
    if (entry.count === limit) entry.expiresAt = now + blockMs;
    return { count: entry.count, msLeft: entry.expiresAt - now };
  }

  async reset(key: string): Promise<void> {
    this.#counters.delete(key);
  }

  #evict(now: number): void {
    if (this.#counters.size <= this.#max) return;
    for (const [key, entry] of this.#counters) {
      if (entry.expiresAt <= now) this.#counters.delete(key);
    }
    while (this.#counters.size > this.#max) {
      const oldest = this.#counters.keys().next().value as string;
      this.#counters.delete(oldest);
    }
  }
}

// One round trip each, atomic: two instances failing at once both count.
const HIT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if c == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {c, redis.call('PTTL', KEYS[1])}`;
const PEEK = `local c = redis.call('GET', KEYS[1])
if not c then return {0, 0} end
return {tonumber(c), redis.call('PTTL', KEYS[1])}`;
const RESET = `return redis.call('DEL', KEYS[1])`;

function pair(value: unknown): Counter {
  const [count, ttl] = Array.isArray(value) ? value.map(Number) : [0, 0];
  return { count: count ?? 0, msLeft: Math.max(0, ttl ?? 0) };
}

export class RedisBackend implements FailureBackend {
  readonly #redis: RedisLike;
  constructor(redis: RedisLike) {
    if (typeof redis?.eval !== "function") throw new TypeError("koa-sessionkit: loginThrottle({ redis }) needs an ioredis client");
    this.#redis = redis;
  }

  async peek(key: string): Promise<Counter | null> {
    const counter = pair(await this.#redis.eval(PEEK, 1, key));
    return counter.count > 0 ? counter : null;
  }

  async hit(key: string, windowMs: number, limit: number, blockMs: number): Promise<Counter> {
    return pair(await this.#redis.eval(HIT, 1, key, Math.ceil(windowMs), limit, Math.ceil(blockMs)));
  }

  async reset(key: string): Promise<void> {
    await this.#redis.eval(RESET, 1, key);
  }
}

const TABLE_NAME = /^(?:[A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export class PostgresBackend implements FailureBackend {
  readonly #pg: PgLike;
  readonly #table: string;
  #ready: Promise<void> | undefined;
  #hits = 0;

  constructor(pg: PgLike, tableName = "sessionkit_login_failures") {
    if (typeof pg?.query !== "function") throw new TypeError("koa-sessionkit: loginThrottle({ pg }) needs a pg Pool");
    if (!TABLE_NAME.test(tableName)) throw new TypeError(`koa-sessionkit: loginThrottle({ tableName }) must be a plain SQL identifier, got ${tableName}`);
    this.#pg = pg;
    this.#table = tableName.split(".").map((part) => `"${part}"`).join(".");
  }

  /** Create the table once, on first use. Two instances racing to create it is fine. */
  #ensureTable(): Promise<void> {
    this.#ready ??= this.#pg
      .query(`CREATE TABLE IF NOT EXISTS ${this.#table} (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at BIGINT NOT NULL)`)
      .then(
        () => undefined,
        (err: { code?: string }) => {
          // 23505/42P07: another instance created it at the same moment.
          if (err?.code === "23505" || err?.code === "42P07") return;
          this.#ready = undefined;
          throw err;
        },
      );
    return this.#ready;
  }

  async peek(key: string): Promise<Counter | null> {
    await this.#ensureTable();
    const now = Date.now();
    const { rows } = await this.#pg.query(`SELECT count, expires_at FROM ${this.#table} WHERE key = $1 AND expires_at > $2`, [key, now]);
    const row = rows[0];
    return row ? { count: Number(row.count), msLeft: Number(row.expires_at) - now } : null;
  }

  async hit(key: string, windowMs: number, limit: number, blockMs: number): Promise<Counter> {
    await this.#ensureTable();
    const now = Date.now();
    const fresh = limit <= 1 ? now + blockMs : now + windowMs;
    const { rows } = await this.#pg.query(
      `INSERT INTO ${this.#table} AS f (key, count, expires_at) VALUES ($1, 1, $2)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN f.expires_at <= $3 THEN 1 ELSE f.count + 1 END,
         expires_at = CASE WHEN f.expires_at <= $3 THEN $2 WHEN f.count + 1 = $4 THEN $5 ELSE f.expires_at END
       RETURNING count, expires_at`,
      [key, fresh, now, limit, now + blockMs],
    );
    // Sweep expired rows now and then, so the table stays the size of the active attacks.
    if (++this.#hits % 100 === 0) await this.#pg.query(`DELETE FROM ${this.#table} WHERE expires_at <= $1`, [now]).catch(() => undefined);
    const row = rows[0] ?? {};
    return { count: Number(row.count), msLeft: Number(row.expires_at) - now };
  }

  async reset(key: string): Promise<void> {
    await this.#ensureTable();
    await this.#pg.query(`DELETE FROM ${this.#table} WHERE key = $1`, [key]);
  }
}
