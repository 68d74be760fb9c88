/**
 * Where the app keeps its users. Two implementations: SQLite (the default, beside the sessions) and
 * PostgreSQL (when DATABASE_URL is set). Emails are normalized before they reach either.
 */
import { randomUUID } from "node:crypto";
import { normalizeEmail } from "../../src/auth/index.js";

/**
 * The one email normaliser of the app, the login throttle's own (NFKC, trim, lower case): users,
 * throttle keys and the CLIs all agree on which mailbox an input names, so "jürgen@exämple.de"
 * typed composed or decomposed, or with capitals and spaces, is one account.
 */
export { normalizeEmail };

export interface User {
  /** Opaque, random; what the session remembers (never the email). */
  id: string;
  email: string;
  passwordHash: string;
  role: string;
  createdAt: number;
  /** When an operator disabled the account (ms since epoch); null while it may log in. */
  disabledAt: number | null;
}

export interface NewUser {
  email: string;
  passwordHash: string;
  role?: string;
}

export interface UserRepository {
  findByEmail(email: string): Promise<User | null>;
  findById(id: string): Promise<User | null>;
  /** Throws DuplicateEmailError when the (normalized) email is taken. */
  create(user: NewUser): Promise<User>;
  updatePassword(id: string, passwordHash: string): Promise<void>;
  /**
   * Disable (login refused, sessions refused) or enable an account. Disabling an already disabled
   * account keeps the original disabledAt. Ending the account's sessions is the caller's job
   * (users/disable.ts), since the repository does not know the session store.
   */
  setDisabled(id: string, disabled: boolean): Promise<void>;
  count(): Promise<number>;
  /** Release what the repository opened itself (not a database or pool it was handed). */
  close(): Promise<void>;
}

export class DuplicateEmailError extends Error {
  override readonly name = "DuplicateEmailError";
  constructor(email: string) {
    super(`a user with email ${email} already exists`);
  }
}

/**
 * Emails stored before NFKC was part of the normal form: only addresses with a character outside
 * printable ASCII can differ (trim and lower case were applied already). Each is the row to update;
 * one whose normal form another account holds already stays as it was (it could not log in before
 * either, since lookups were by that form's twin), so no account is merged or lost.
 */
export function emailsToRenormalize(rows: ReadonlyArray<{ id: string; email: string }>): Array<{ id: string; email: string }> {
  return rows.flatMap((row) => {
    const email = normalizeEmail(row.email);
    return email === row.email ? [] : [{ id: row.id, email }];
  });
}

/** Deliberately loose: one "@" with something on both sides, no spaces, at most 254 characters. */
export function isPlausibleEmail(email: string): boolean {
  return email.length <= 254 && /^[^\s@]+@[^\s@]+$/.test(email);
}

/** The roles the app knows: "admin" may use /admin, "user" is everyone else. */
export const ROLES = ["user", "admin"] as const;
export type Role = (typeof ROLES)[number];
export const DEFAULT_ROLE: Role = "user";

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** A role nobody checks for (a typo such as "superuser" or "Admin") would grant nothing silently. */
export class UnknownRoleError extends Error {
  override readonly name = "UnknownRoleError";
  constructor(role: string) {
    super(`unknown role ${JSON.stringify(role)}; the roles are ${ROLES.join(", ")}`);
  }
}

/** The record every repository stores for a new user: fresh id, normalized email, default role. */
export function newUser(input: NewUser): User {
  const role = input.role ?? DEFAULT_ROLE;
  if (!isRole(role)) throw new UnknownRoleError(role);
  return {
    id: randomUUID(),
    email: normalizeEmail(input.email),
    passwordHash: input.passwordHash,
    role,
    createdAt: Date.now(),
    disabledAt: null,
  };
}

/** A row of app_users as either database hands it back (pg returns BIGINT columns as strings). */
export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  role: string;
  created_at: string | number;
  disabled_at: string | number | null;
}

export function userFromRow(row: UserRow | undefined): User | null {
  if (!row) return null;
  return {
    id: row.id,
    email: row.email,
    passwordHash: row.password_hash,
    role: row.role,
    createdAt: Number(row.created_at),
    disabledAt: row.disabled_at === null || row.disabled_at === undefined ? null : Number(row.disabled_at),
  };
}
