/**
 * A store refuses an option it does not have, with the name it goes by here: a borrowed name
 * (connect-pg-simple's tableName, connect-sqlite3's db, connect-redis's prefix) used to be ignored
 * in silence, and the store ran on its defaults (another table than the one the sessions are in).
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { SessionConfigError } from "../../src/errors.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { RedisStore } from "../../src/stores/redis.js";
import { SqliteStore } from "../../src/stores/sqlite.js";

function refusal(make: () => unknown): SessionConfigError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(SessionConfigError);
    expect((error as SessionConfigError).code).toBe("ERR_SESSIONKIT_CONFIG");
    return error as SessionConfigError;
  }
  throw new Error("expected a SessionConfigError");
}

describe("stores refuse options they do not have", () => {
  it("PostgresStore: connect-pg-simple's names point to ours", () => {
    const options = { connectionString: "postgres://127.0.0.1:1/none", tableName: "session" } as never;
    expect(refusal(() => new PostgresStore(options)).message).toBe(
      'koa-sessionkit: PostgresStore has no option "tableName"; PostgresStore calls it table. Its options: pool, connectionString, poolOptions, table, schema, createTable, pruneIntervalMs',
    );
    expect(refusal(() => new PostgresStore({ connectionString: "postgres://127.0.0.1:1/none", pruneSessionInterval: 60 } as never)).message).toContain("pruneIntervalMs (in milliseconds)");
    expect(refusal(() => new PostgresStore({ connectionString: "postgres://127.0.0.1:1/none", tabel: "x" } as never)).message).toContain('no option "tabel". Its options: pool,');
  });

  it("SqliteStore: connect-sqlite3's db and better-sqlite3-session-store's client", () => {
    expect(refusal(() => new SqliteStore({ db: "sessions.db" } as never)).message).toContain('no option "db"; SqliteStore calls it path (a file) or database (an open Database)');
    expect(refusal(() => new SqliteStore({ path: ":memory:", client: {} } as never)).message).toContain("calls it database");
  });

  it("MemoryStore lists its options", () => {
    expect(refusal(() => new MemoryStore({ maxSize: 5 } as never)).message).toBe('koa-sessionkit: MemoryStore has no option "maxSize". Its options: max, now');
    expect(new MemoryStore({ max: 5 }).max).toBe(5);
  });

  it("RedisStore: prefix is keyPrefix, and ioredis options beside your own client would do nothing", () => {
    expect(refusal(() => new RedisStore({ url: "redis://127.0.0.1:1", prefix: "app:" } as never)).message).toContain("prefix of the keys it writes is keyPrefix");
    const client = new Redis({ lazyConnect: true });
    try {
      expect(refusal(() => new RedisStore({ client, db: 2, password: "x" })).message).toContain("so db, password would do nothing; set ioredis options on the client you pass");
      expect(new RedisStore({ client, keyPrefix: "app:" }).keyPrefix).toBe("app:");
    } finally {
      client.disconnect();
    }
  });
});
