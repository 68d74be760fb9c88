/** A small Koa app wired with session() + auth() + the auth helpers, for HTTP tests. */
import Koa, { type Context } from "koa";
import type { Response } from "supertest";
import session, { MemoryStore, type SessionOptions, type StoredSession, type MaxAge } from "../../src/index.js";
import {
  auth,
  currentUser,
  listSessions,
  login,
  logout,
  logoutEverywhere,
  requireAuth,
  requireRecentAuth,
  requireRole,
  revokeSession,
  type AuthOptions,
} from "../../src/auth/index.js";

export const KEYS = ["k".repeat(32), "l".repeat(32)];

/** A MemoryStore that counts calls and remembers which keys were destroyed. */
export class CountingStore extends MemoryStore {
  calls = { get: 0, set: 0, destroy: 0, touch: 0, merge: 0 };
  destroyed: string[] = [];
  override get(key: string): StoredSession | null {
    this.calls.get++;
    return super.get(key);
  }
  override set(key: string, value: StoredSession, maxAge: MaxAge | undefined): void {
    this.calls.set++;
    super.set(key, value, maxAge);
  }
  override destroy(key: string): boolean {
    this.calls.destroy++;
    this.destroyed.push(key);
    return super.destroy(key);
  }
  override touch(key: string, value: StoredSession, maxAge: MaxAge | undefined): void {
    this.calls.touch++;
    super.touch(key, value, maxAge);
  }
  override merge(...args: Parameters<MemoryStore["merge"]>): boolean {
    this.calls.merge++;
    return super.merge(...args);
  }
  has(key: string): boolean {
    return super.get(key) !== null;
  }
}

type Route = (ctx: Context) => Promise<void> | void;

export function buildApp(options: { session?: SessionOptions; auth?: AuthOptions; store?: MemoryStore | null; extra?: Record<string, Route> } = {}) {
  const app = new Koa();
  app.keys = KEYS;
  const store = options.store === null ? undefined : (options.store ?? new CountingStore());
  app.use(session({ ...(store ? { store } : {}), ...options.session }, app));
  app.use(auth(options.auth));
  const guarded = (guard: Koa.Middleware, handler: Route): Route => (ctx) => guard(ctx, async () => handler(ctx));
  const routes: Record<string, Route> = {
    "POST /login": async (ctx) => {
      const role = typeof ctx.query.role === "string" ? ctx.query.role : undefined;
      await login(ctx, { id: String(ctx.query.id ?? "1"), ...(role ? { role } : {}) });
      ctx.body = { ok: true, session: ctx.session?.toJSON() };
    },
    "POST /logout": async (ctx) => {
      await logout(ctx);
      ctx.status = 204;
    },
    "GET /me": guarded(requireAuth(), (ctx) => {
      ctx.body = currentUser(ctx);
    }),
    "GET /whoami": (ctx) => {
      ctx.body = { user: currentUser(ctx) };
    },
    "GET /admin": guarded(requireRole("admin"), (ctx) => {
      ctx.body = { admin: true };
    }),
    "GET /sensitive": guarded(requireRecentAuth(5 * 60_000), (ctx) => {
      ctx.body = { ok: true };
    }),
    "GET /sessions": async (ctx) => {
      ctx.body = await listSessions(ctx);
    },
    "POST /logout-everywhere": async (ctx) => {
      ctx.body = { revoked: await logoutEverywhere(ctx, { exceptCurrent: ctx.query.except === "1" }) };
    },
    "POST /revoke": async (ctx) => {
      ctx.body = { revoked: await revokeSession(ctx, String(ctx.query.handle)) };
    },
    "POST /cart": (ctx) => {
      ctx.session!.cart = "apples";
      ctx.body = { ok: true };
    },
    "GET /cart": (ctx) => {
      ctx.body = { cart: ctx.session?.cart ?? null };
    },
    ...options.extra,
  };
  app.use(async (ctx) => {
    const route = routes[`${ctx.method} ${ctx.path}`];
    if (!route) {
      ctx.status = 404;
      return;
    }
    await route(ctx);
  });
  return { app, store: store as CountingStore | undefined, server: app.callback() };
}

/** The Cookie header a browser would send after `res` (expired cookies dropped). */
export function cookieHeader(res: Response, previous = ""): string {
  const jar = new Map<string, string>();
  for (const pair of previous.split("; ").filter(Boolean)) {
    const at = pair.indexOf("=");
    jar.set(pair.slice(0, at), pair.slice(at + 1));
  }
  const raw = res.headers["set-cookie"] as unknown as string[] | undefined;
  for (const line of raw ?? []) {
    const [pair] = line.split(";") as [string];
    const at = pair.indexOf("=");
    const name = pair.slice(0, at);
    const value = pair.slice(at + 1);
    if (value === "" || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
    else jar.set(name, value);
  }
  return [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
}
