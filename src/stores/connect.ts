/**
 * connectStore: any express-session (connect) store as a koa-sessionkit store, so a team keeps the
 * MongoDB, DynamoDB, MySQL… store it already runs (koajs/session#147).
 *
 * - Callbacks and promises alike: each call passes a callback and also watches a returned promise
 *   (express-mysql-session 3 and connect-redis 9 return one). It settles once; an error, a throw or a
 *   rejection rejects, and a store that never answers is cut off by the middleware's storeTimeout.
 *   Either way the request gets the same 503 as with a built-in store. A SyntaxError from get is the
 *   store failing to parse a corrupt entry: the middleware reads that as no session (stores/call.ts).
 * - Expiry: those stores read `sess.cookie.expires` (connect-redis, connect-pg-simple,
 *   express-mysql-session, MemoryStore) or `maxAge`, so every write carries both, from our maxAge.
 *   They round to whole seconds; reads also check our own `_expire`, so expiry is exact to the ms.
 * - The session is kept as JSON text inside the store's object (`{ cookie, sessionkit, sessionkitKey }`):
 *   exactly what the built-in stores write, read back through the same prototype-safe parser, and
 *   safe from stores that rewrite keys or values (dots, `$`, Dates).
 * - Keys: the store's `sid` is our store key, `prefix + sha256(id)`, never the session id.
 * - No merge and no touch: every change and every rolling refresh is a whole-object `set`, as in
 *   koa-session. (A connect store's `touch` only moves the TTL; the expiry inside the data would go
 *   stale, and the middleware enforces that one.)
 * - listByUser / destroyByUser only when the store has `all` (a scan of every session); without it
 *   they are absent and auth's listSessions/logoutEverywhere throw StoreCapabilityError.
 *
 * express-session is never imported: the types below describe the shape a store has.
 *
 * @example
 * import { connectStore } from "koa-sessionkit/connect";
 * import { RedisStore as ConnectRedis } from "connect-redis";
 * app.use(session({ store: connectStore(new ConnectRedis({ client })) }, app));
 *
 * @module koa-sessionkit/connect
 */
import { SessionConfigError } from "../errors.js";
// The one place this file reaches into the session layer: the JSON codec every store shares.
import { isThenable } from "./call.js";
import { parseStored, serializeStored } from "./json.js";
import { ttlMs, type MaxAge, type SessionListEntry, type SessionStore, type StoredSession } from "./contract.js";

type Callback<T = unknown> = (error?: unknown, value?: T) => void;

/** What connectStore writes into the connect store for one session. */
export interface ConnectSessionData {
  /** What express-session would store: connect stores compute their TTL from it. */
  cookie: {
    /** The session's lifetime in ms. */
    originalMaxAge: number;
    /** The same lifetime in ms (stores read either spelling). */
    maxAge: number;
    /** When the session expires. */
    expires: Date;
    /** Always true, as express-session writes it. */
    httpOnly: boolean;
    /** Always "/", as express-session writes it. */
    path: string;
  };
  /** The session's JSON text, as the built-in stores keep it. */
  sessionkit: string;
  /** The store key, for stores whose `all` returns a list without ids. */
  sessionkitKey: string;
}

/** The express-session store API (callback style; a returned promise is honoured too). */
export interface ConnectStoreLike {
  /** Read the session stored under `sid`. */
  get(sid: string, callback: Callback<unknown>): unknown;
  /** Store `session` under `sid`. */
  set(sid: string, session: ConnectSessionData, callback: Callback): unknown;
  /** Remove the session under `sid`. */
  destroy(sid: string, callback: Callback): unknown;
  /** Not used by connectStore (see the module notes); listed because express-session stores have it. */
  touch?(sid: string, session: ConnectSessionData, callback: Callback): unknown;
  /** Every live session: an object keyed by sid, or an array (with `id` on each entry, or not). */
  all?(callback: Callback<unknown>): unknown;
  /** Remove every session. */
  clear?(callback: Callback): unknown;
  /** Count the sessions. */
  length?(callback: Callback<number>): unknown;
}

/** What {@link connectStore} returns: a {@link SessionStore} plus the wrapped store's extras. */
export interface ConnectSessionStore extends SessionStore {
  /** The wrapped connect store. */
  readonly connect: ConnectStoreLike;
  /** The store's `clear`, when it has one: removes every session in it. */
  clear?(): Promise<void>;
  /** The store's `length`, when it has one: how many sessions it holds. */
  length?(): Promise<number>;
}

/** One connect-store call as a promise that settles once, from the callback or the returned promise. */
function invoke<T>(store: ConnectStoreLike, method: keyof ConnectStoreLike, ...args: unknown[]): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    let settled = false;
    const done: Callback<T> = (error, value) => {
      if (settled) return;
      settled = true;
      if (error) reject(error instanceof Error ? error : new Error(`koa-sessionkit: connect store ${method} failed: ${String(error)}`));
      else resolve(value);
    };
    try {
      const returned = (store[method] as (...params: unknown[]) => unknown).call(store, ...args, done);
      if (isThenable(returned)) {
        // A promise-only store never calls back: use its value, one macrotask later so a store that
        // resolves first and then calls back still hands over the value through its callback.
        returned.then(
          (value) => setImmediate(() => done(undefined, value as T)),
          (error: unknown) => done(error ?? new Error(`koa-sessionkit: connect store ${method} rejected`)),
        );
      }
    } catch (error) {
      done(error);
    }
  });
}

/** The session inside what the store returned, or null when it is missing, foreign or past `_expire`. */
function unwrap(value: unknown, now: number): StoredSession | null {
  const text = (value as { sessionkit?: unknown } | null)?.sessionkit;
  if (typeof text !== "string") return null;
  const session = parseStored(text);
  if (!session || (typeof session._expire === "number" && session._expire <= now)) return null;
  return session;
}

/** `all`'s answer (object keyed by sid, or array) as [key, value] pairs. */
function entriesOf(all: unknown): [string | undefined, unknown][] {
  if (Array.isArray(all)) {
    return all.map((value: unknown) => {
      const known = (value as { sessionkitKey?: unknown; id?: unknown } | null) ?? {};
      const key = typeof known.sessionkitKey === "string" ? known.sessionkitKey : typeof known.id === "string" ? known.id : undefined;
      return [key, value];
    });
  }
  return typeof all === "object" && all !== null ? Object.entries(all) : [];
}

/**
 * Wrap an express-session store. `store` is the constructed store object (new ConnectRedis(…),
 * new (MySQLStore(session))(…), new session.MemoryStore()). Every change is a whole-object `set`;
 * listByUser/destroyByUser exist only when the store has `all`.
 *
 * @throws SessionConfigError when `store` lacks get, set or destroy.
 *
 * @example
 * import { connectStore } from "koa-sessionkit/connect";
 * import { RedisStore as ConnectRedis } from "connect-redis";
 * app.use(session({ store: connectStore(new ConnectRedis({ client, prefix: "sess:" })) }, app));
 */
export function connectStore(store: ConnectStoreLike): ConnectSessionStore {
  for (const method of ["get", "set", "destroy"] as const) {
    if (typeof (store as Partial<ConnectStoreLike> | null)?.[method] !== "function") {
      throw new SessionConfigError(
        `connectStore needs an express-session store object with get, set and destroy methods (it has no ${method}); pass the constructed store, e.g. connectStore(new ConnectRedis({ client }))`,
      );
    }
  }

  const adapter: ConnectSessionStore = {
    connect: store,

    // A SyntaxError from the store (MemoryStore, connect-redis and express-mysql-session JSON.parse in
    // get) is passed on: the middleware reads a corrupt entry as no session (stores/call.ts).
    async get(key: string): Promise<StoredSession | null> {
      return unwrap(await invoke(store, "get", key), Date.now());
    },

    async set(key: string, session: StoredSession, maxAge: MaxAge | undefined): Promise<void> {
      const ttl = ttlMs(maxAge);
      const data: ConnectSessionData = {
        cookie: { originalMaxAge: ttl, maxAge: ttl, expires: new Date(Date.now() + ttl), httpOnly: true, path: "/" },
        sessionkit: serializeStored(session),
        sessionkitKey: key,
      };
      await invoke(store, "set", key, data);
    },

    async destroy(key: string): Promise<void> {
      await invoke(store, "destroy", key);
    },
  };

  if (typeof store.all === "function") {
    const listAll = async (userId: string): Promise<SessionListEntry[]> => {
      const now = Date.now();
      const list: SessionListEntry[] = [];
      for (const [sid, value] of entriesOf(await invoke(store, "all"))) {
        const session = unwrap(value, now);
        const meta = session?._sk;
        if (!session || !meta || meta.userId !== userId || sid === undefined) continue;
        const expires = (value as Partial<ConnectSessionData>).cookie?.expires;
        list.push({
          key: sid,
          createdAt: meta.createdAt ?? 0,
          lastSeenAt: meta.lastSeenAt ?? meta.createdAt ?? 0,
          expiresAt: session._expire ?? (expires === undefined ? now : new Date(expires).getTime()),
          ...(meta.ip === undefined ? {} : { ip: meta.ip }),
          ...(meta.userAgent === undefined ? {} : { userAgent: meta.userAgent }),
        });
      }
      return list.sort((a, b) => b.lastSeenAt - a.lastSeenAt);
    };
    adapter.listByUser = listAll;
    adapter.destroyByUser = async (userId: string, options: { except?: string | string[] } = {}): Promise<number> => {
      const except = new Set(typeof options.except === "string" ? [options.except] : (options.except ?? []));
      const victims = (await listAll(userId)).filter((entry) => !except.has(entry.key));
      await Promise.all(victims.map((entry) => invoke(store, "destroy", entry.key)));
      return victims.length;
    };
  }
  if (typeof store.clear === "function") adapter.clear = async () => void (await invoke(store, "clear"));
  if (typeof store.length === "function") adapter.length = async () => Number((await invoke<number>(store, "length")) ?? 0);
  return adapter;
}

export default connectStore;
