/**
 * A user database that can't be reached is an outage, not a bug: requests that need it get 503 with
 * Retry-After (through the app's error boundary), the same answer a failing session store gets,
 * instead of a 500. Errors that are not about reaching the database (a constraint, a bad query)
 * pass through unchanged and stay 500s in the log.
 */
import type { UserRepository } from "./repository.js";

export class UsersUnavailableError extends Error {
  override readonly name = "UsersUnavailableError";
  readonly code = "APP_USERS_UNAVAILABLE";
  readonly status = 503;
  readonly expose = false;
  readonly headers = { "Retry-After": "5" };
  constructor(cause: unknown) {
    super("the user database could not be reached; the request was answered 503. Check DATABASE_URL's server (or the SQLite file in DATA_DIR) is up and reachable", { cause });
  }
}

/** Socket-level failures, and the SQLSTATE classes PostgreSQL uses for connections and shutdowns. */
const NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE"]);
const PG_CODES = new Set(["57P01", "57P02", "57P03", "53300"]);
const PG_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection refused/i;
/** SQLite: the file is locked, busy, unreadable or full; all transient or operational. */
const SQLITE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY)/;

export function isUnavailable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "string") {
    if (NODE_CODES.has(code) || PG_CODES.has(code) || code.startsWith("08") || SQLITE_CODES.test(code)) return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isUnavailable); // pg on dual-stack hosts
  return typeof message === "string" && PG_MESSAGES.test(message);
}

/** The same repository, with "can't reach the database" turned into UsersUnavailableError. */
export function guardUsers(inner: UserRepository): UserRepository {
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw isUnavailable(error) ? new UsersUnavailableError(error) : error;
    }
  };
  return {
    findByEmail: (email) => guard(() => inner.findByEmail(email)),
    findById: (id) => guard(() => inner.findById(id)),
    create: (user) => guard(() => inner.create(user)),
    updatePassword: (id, hash) => guard(() => inner.updatePassword(id, hash)),
    setDisabled: (id, disabled) => guard(() => inner.setDisabled(id, disabled)),
    count: () => guard(() => inner.count()),
    close: () => inner.close(),
  };
}
