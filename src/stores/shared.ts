/**
 * Helpers the built-in stores share, so the four of them say each thing once: the `except` list of
 * destroyByUser, a SessionListEntry from `_sk` metadata or from a table row, the metadata columns the
 * SQL stores keep beside the data, the SQL identifier check, the DDL race check and the prune timer.
 */
import { SessionConfigError } from "../errors.js";
import type { SessionListEntry, SessionMeta, StoredSession } from "./contract.js";

/** destroyByUser's `except`, as a list (one key or many). */
export function exceptKeys(except: string | string[] | undefined): string[] {
  return typeof except === "string" ? [except] : (except ?? []);
}

/** A user's session list, newest activity first. */
export function newestFirst(list: SessionListEntry[]): SessionListEntry[] {
  return list.sort((a, b) => b.lastSeenAt - a.lastSeenAt);
}

/** A list entry from the session's own `_sk` metadata (stores that keep no separate columns). */
export function entryFromMeta(key: string, meta: SessionMeta | undefined, expiresAt: number): SessionListEntry {
  return {
    key,
    createdAt: meta?.createdAt ?? 0,
    lastSeenAt: meta?.lastSeenAt ?? meta?.createdAt ?? 0,
    expiresAt,
    ...(meta?.ip === undefined ? {} : { ip: meta.ip }),
    ...(meta?.userAgent === undefined ? {} : { userAgent: meta.userAgent }),
  };
}

/** The metadata columns of the SQL stores' tables (bigint columns arrive from pg as strings). */
export interface MetaRow {
  key: string;
  expires_at: number | string;
  created_at: number | string;
  last_seen_at: number | string;
  ip: string | null;
  user_agent: string | null;
}

/** A list entry from a SQL row: listing never parses session data. */
export function entryFromRow(row: MetaRow): SessionListEntry {
  return {
    key: row.key,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    expiresAt: Number(row.expires_at),
    ...(row.ip === null ? {} : { ip: row.ip }),
    ...(row.user_agent === null ? {} : { userAgent: row.user_agent }),
  };
}

export type MetaColumns = [userId: string | null, createdAt: number, lastSeenAt: number, ip: string | null, userAgent: string | null];

/** user_id, created_at, last_seen_at, ip and user_agent, taken from `_sk` when a session is written. */
export function metaColumns(session: StoredSession, now: number): MetaColumns {
  // Typed columns (bigint, text): a hand-edited or foreign entry with a string where a time belongs
  // must not make every later write of that session fail in the database.
  const meta = session._sk as Record<string, unknown> | undefined;
  const time = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? Math.trunc(value) : undefined);
  const text = (value: unknown) => (typeof value === "string" ? value : null);
  const createdAt = time(meta?.createdAt) ?? now;
  return [text(meta?.userId), createdAt, time(meta?.lastSeenAt) ?? createdAt, text(meta?.ip), text(meta?.userAgent)];
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A table or schema name goes into SQL text, so it must be a plain identifier. Returns it quoted. */
export function sqlIdentifier(storeName: string, kind: string, name: unknown): string {
  if (typeof name !== "string" || !IDENTIFIER.test(name)) {
    throw new SessionConfigError(
      `${storeName} ${kind} ${JSON.stringify(name)} is not a plain SQL identifier; use letters, digits and underscores (at most 63, not starting with a digit)`,
    );
  }
  return `"${name}"`;
}

/**
 * An empty connection setting (what `process.env.X` gives when X is set but blank) would make the
 * driver fall back to its own default (localhost, PGHOST, a temporary file): the wrong place, silently.
 */
export function refuseEmpty(storeName: string, option: string, value: string, fix: string): void {
  if (value.trim() === "") throw new SessionConfigError(`${storeName} got an empty ${option} (an unset or empty environment variable?); pass ${fix}`);
}

/**
 * SQLSTATEs PostgreSQL answers a `CREATE … IF NOT EXISTS` (or `ADD COLUMN IF NOT EXISTS`) with when
 * another session is creating the same object at that moment: a unique violation in the catalog
 * (23505), duplicate_table (42P07), duplicate_object for the primary key's index (42710) and
 * duplicate_column (42701). Each means the object exists. Four concurrent creators of one table
 * produced the first three within 200 tries.
 */
const CREATED_CONCURRENTLY = new Set(["23505", "42P07", "42710", "42701"]);

/** True when a DDL error only says another instance created the object first. */
export function createdConcurrently(error: unknown): boolean {
  return CREATED_CONCURRENTLY.has(String((error as { code?: unknown } | null)?.code));
}

const DEFAULT_PRUNE_INTERVAL_MS = 10 * 60 * 1000;

/** The timer that deletes expired rows (`pruneIntervalMs`, default 10 minutes; false: none). */
export function startPruneTimer(storeName: string, interval: number | false | undefined, prune: () => unknown): NodeJS.Timeout | undefined {
  const ms = interval ?? DEFAULT_PRUNE_INTERVAL_MS;
  if (ms === false) return undefined;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0) {
    throw new SessionConfigError(`${storeName} pruneIntervalMs must be a positive number of ms, or false`);
  }
  // unref: pruning alone never keeps the process alive.
  return setInterval(() => void prune(), ms).unref();
}

/**
 * Refuses an option the store does not have: a misspelt or borrowed name (connect-pg-simple's
 * `tableName`, connect-sqlite3's `db`) would otherwise be ignored in silence, and the store would run
 * on its defaults, e.g. a different table than the one the user's sessions are in. `renamed` maps
 * such names to ours, for the message.
 */
export function refuseUnknownOptions(store: string, options: object, known: readonly string[], renamed: Readonly<Record<string, string>> = {}): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const ours = Object.prototype.hasOwnProperty.call(renamed, name) ? renamed[name] : undefined;
    const hint = ours ? `; ${store} calls it ${ours}` : "";
    throw new SessionConfigError(`${store} has no option ${JSON.stringify(name)}${hint}. Its options: ${known.join(", ")}`);
  }
}
