/**
 * Users in PostgreSQL (pg), table app_users, created on first use if missing (and given the columns
 * newer versions added, when it is older).
 */
import type { Pool } from "pg";
import { createdConcurrently } from "../../src/stores/shared.js";
import {
  DuplicateEmailError,
  newUser,
  emailsToRenormalize,
  normalizeEmail,
  userFromRow as toUser,
  type NewUser,
  type User,
  type UserRepository,
  type UserRow as Row,
} from "./repository.js";

/** Two processes creating the same table or column at once: the loser sees a duplicate; the object exists. */
function ignoreAlreadyCreated(error: unknown): void {
  if (!createdConcurrently(error)) throw error;
}

export class PostgresUserRepository implements UserRepository {
  readonly #pool: Pool;
  #ready: Promise<void> | undefined;

  /** The pool belongs to the caller, who ends it. */
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  /** Create or update the table once; a failed attempt is retried on the next call rather than cached. */
  #ensureTable(): Promise<void> {
    this.#ready ??= this.#migrate().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /**
   * Columns are only ever added (nullable), so an existing app_users table keeps every user. The
   * column is looked up first: ALTER TABLE takes an exclusive lock on the table even when IF NOT
   * EXISTS makes it a no-op, and every start would otherwise queue behind running logins.
   */
  async #migrate(): Promise<void> {
    await this.#pool
      .query(
        `CREATE TABLE IF NOT EXISTS app_users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'user',
  created_at    BIGINT NOT NULL,
  disabled_at   BIGINT
)`,
      )
      .catch(ignoreAlreadyCreated);
    // 'app_users'::regclass resolves the name through search_path exactly like the queries below.
    const found = await this.#pool.query(
      "SELECT 1 FROM pg_attribute WHERE attrelid = 'app_users'::regclass AND attname = 'disabled_at' AND NOT attisdropped",
    );
    if (found.rowCount === 0) {
      await this.#pool.query("ALTER TABLE app_users ADD COLUMN IF NOT EXISTS disabled_at BIGINT").catch(ignoreAlreadyCreated);
    }
    // Emails from before NFKC normalisation (only non-ASCII ones can differ): bring them to the form
    // lookups use; a form another account holds already is left alone (no merge, nothing lost).
    const candidates = await this.#pool.query<{ id: string; email: string }>("SELECT id, email FROM app_users WHERE email !~ '^[ -~]*$'");
    for (const row of emailsToRenormalize(candidates.rows)) {
      await this.#pool
        .query("UPDATE app_users SET email = $1 WHERE id = $2 AND NOT EXISTS (SELECT 1 FROM app_users WHERE email = $1)", [row.email, row.id])
        .catch(ignoreAlreadyCreated);
    }
  }

  async #one(sql: string, params: unknown[]): Promise<User | null> {
    await this.#ensureTable();
    const result = await this.#pool.query<Row>(sql, params);
    return toUser(result.rows[0]);
  }

  findByEmail(email: string): Promise<User | null> {
    return this.#one("SELECT * FROM app_users WHERE email = $1", [normalizeEmail(email)]);
  }

  findById(id: string): Promise<User | null> {
    return this.#one("SELECT * FROM app_users WHERE id = $1", [id]);
  }

  async create(input: NewUser): Promise<User> {
    await this.#ensureTable();
    const user = newUser(input);
    try {
      await this.#pool.query("INSERT INTO app_users (id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)", [
        user.id,
        user.email,
        user.passwordHash,
        user.role,
        user.createdAt,
      ]);
    } catch (error) {
      if ((error as { code?: string }).code === "23505") throw new DuplicateEmailError(user.email);
      throw error;
    }
    return user;
  }

  async updatePassword(id: string, passwordHash: string): Promise<void> {
    await this.#ensureTable();
    await this.#pool.query("UPDATE app_users SET password_hash = $1 WHERE id = $2", [passwordHash, id]);
  }

  async setDisabled(id: string, disabled: boolean): Promise<void> {
    await this.#ensureTable();
    if (disabled) await this.#pool.query("UPDATE app_users SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2", [Date.now(), id]);
    else await this.#pool.query("UPDATE app_users SET disabled_at = NULL WHERE id = $1", [id]);
  }

  async count(): Promise<number> {
    await this.#ensureTable();
    const result = await this.#pool.query<{ n: string }>("SELECT COUNT(*) AS n FROM app_users");
    return Number(result.rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {}
}
