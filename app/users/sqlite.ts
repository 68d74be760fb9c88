/**
 * Users in SQLite (better-sqlite3), in the app's database file beside the session table.
 * better-sqlite3 is synchronous; each statement is a short indexed lookup, prepared once.
 */
import type BetterSqlite3 from "better-sqlite3";
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

/**
 * Create the table, or bring one created by an older version up to date. Columns are only ever added
 * (nullable), so an existing DATA_DIR/app.db keeps every user. IMMEDIATE takes the write lock before
 * looking, so a server and a CLI starting together cannot both try to add the same column.
 */
function migrate(database: BetterSqlite3.Database): void {
  database
    .transaction(() => {
      database.exec(`CREATE TABLE IF NOT EXISTS app_users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'user',
  created_at    INTEGER NOT NULL,
  disabled_at   INTEGER
)`);
      const columns = database.prepare<[], { name: string }>("PRAGMA table_info(app_users)").all();
      // Added after the first release: tables from then lack it.
      if (!columns.some((column) => column.name === "disabled_at")) database.exec("ALTER TABLE app_users ADD COLUMN disabled_at INTEGER");
      // Emails from before NFKC normalisation (only non-ASCII ones can differ): bring them to the
      // form lookups use. OR IGNORE: a form another account holds already is left alone.
      const candidates = database.prepare<[], { id: string; email: string }>("SELECT id, email FROM app_users WHERE email GLOB '*[^ -~]*'").all();
      const update = database.prepare("UPDATE OR IGNORE app_users SET email = ? WHERE id = ?");
      for (const row of emailsToRenormalize(candidates)) update.run(row.email, row.id);
    })
    .immediate();
}

export class SqliteUserRepository implements UserRepository {
  readonly #byEmail: BetterSqlite3.Statement<[string], Row>;
  readonly #byId: BetterSqlite3.Statement<[string], Row>;
  readonly #insert: BetterSqlite3.Statement<[string, string, string, string, number]>;
  readonly #updatePassword: BetterSqlite3.Statement<[string, string]>;
  readonly #disable: BetterSqlite3.Statement<[number, string]>;
  readonly #enable: BetterSqlite3.Statement<[string]>;
  readonly #count: BetterSqlite3.Statement<[], { n: number }>;

  /** The database belongs to the caller, who closes it. */
  constructor(database: BetterSqlite3.Database) {
    migrate(database);
    this.#byEmail = database.prepare("SELECT * FROM app_users WHERE email = ?");
    this.#byId = database.prepare("SELECT * FROM app_users WHERE id = ?");
    this.#insert = database.prepare("INSERT INTO app_users (id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)");
    this.#updatePassword = database.prepare("UPDATE app_users SET password_hash = ? WHERE id = ?");
    this.#disable = database.prepare("UPDATE app_users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?");
    this.#enable = database.prepare("UPDATE app_users SET disabled_at = NULL WHERE id = ?");
    this.#count = database.prepare("SELECT COUNT(*) AS n FROM app_users");
  }

  async findByEmail(email: string): Promise<User | null> {
    return toUser(this.#byEmail.get(normalizeEmail(email)));
  }

  async findById(id: string): Promise<User | null> {
    return toUser(this.#byId.get(id));
  }

  async create(input: NewUser): Promise<User> {
    const user = newUser(input);
    try {
      this.#insert.run(user.id, user.email, user.passwordHash, user.role, user.createdAt);
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") throw new DuplicateEmailError(user.email);
      throw error;
    }
    return user;
  }

  async updatePassword(id: string, passwordHash: string): Promise<void> {
    this.#updatePassword.run(passwordHash, id);
  }

  async setDisabled(id: string, disabled: boolean): Promise<void> {
    if (disabled) this.#disable.run(Date.now(), id);
    else this.#enable.run(id);
  }

  async count(): Promise<number> {
    return this.#count.get()?.n ?? 0;
  }

  async close(): Promise<void> {}
}
