/**
 * Users in PostgreSQL (pg), table app_users, created on first use if missing.
 */
import type { Pool } from "pg";
import { DuplicateEmailError, newUser, normalizeEmail, type NewUser, type User, type UserRepository } from "./repository.js";

interface Row {
  id: string;
  email: string;
  password_hash: string;
  role: string;
  created_at: string | number;
}

const toUser = (row: Row | undefined): User | null =>
  row ? { id: row.id, email: row.email, passwordHash: row.password_hash, role: row.role, createdAt: Number(row.created_at) } : null;

export class PostgresUserRepository implements UserRepository {
  readonly #pool: Pool;
  #ready: Promise<void> | undefined;

  /** The pool belongs to the caller, who ends it. */
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  /** Create the table once; a failed attempt is retried on the next call rather than cached. */
  #ensureTable(): Promise<void> {
    this.#ready ??= this.#pool
      .query(
        `CREATE TABLE IF NOT EXISTS app_users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'user',
  created_at    BIGINT NOT NULL
)`,
      )
      .then(
        () => undefined,
        (error: unknown) => {
          // Two processes creating the table at once: one loses the race on the type's unique index.
          if ((error as { code?: string }).code === "23505") return;
          this.#ready = undefined;
          throw error;
        },
      );
    return this.#ready;
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

  async count(): Promise<number> {
    await this.#ensureTable();
    const result = await this.#pool.query<{ n: string }>("SELECT COUNT(*) AS n FROM app_users");
    return Number(result.rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {}
}
