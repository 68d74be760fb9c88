/**
 * Typical koa-session 7 application code, unchanged except for the import: it must compile against
 * koa-sessionkit's types (`npm run typecheck` includes this file; test/types/koa-session-app.test.ts
 * also runs it). koa-session declares no types for `ctx.session`, so its users write
 * `ctx.session.views` on what Koa types as `any`; the same code must not meet "possibly null" or
 * "unknown" here. Keep this file free of `!`, casts and koa-sessionkit-only API.
 */
import Koa from "koa";
import type { SessionOptions as KoaSessionOptions } from "koa-session";
import session from "../../src/index.js";

/** A store with koa-session's loose shapes, as koa-redis-era code writes them. */
class LooseStore {
  private readonly sessions = new Map<string, unknown>();
  async get(key: string): Promise<unknown> {
    return this.sessions.get(key);
  }
  async set(key: string, value: unknown, maxAge?: number, opts?: { rolling?: boolean; changed?: boolean }): Promise<void> {
    void maxAge;
    void opts;
    this.sessions.set(key, value);
  }
  async destroy(key: string): Promise<void> {
    this.sessions.delete(key);
  }
}

/** A store typed with koa-session's own declaration of the `store` option. */
const typedStore: NonNullable<KoaSessionOptions["store"]> = {
  get: async (key, maxAge, data) => (key === "" || maxAge < 0 || data.rolling ? undefined : {}),
  set: async (key, sess, maxAge, data) => void [key, sess, maxAge, data],
  destroy: async (key, data) => void [key, data],
};

/** koa-session's README configuration, as a plain (non-const) object. */
const CONFIG = {
  key: "koa.sess",
  maxAge: 86400000,
  autoCommit: true,
  overwrite: true,
  httpOnly: true,
  signed: true,
  rolling: false,
  renew: false,
  secure: false,
  sameSite: "lax",
};

export function buildApps(): Koa[] {
  const app = new Koa();
  app.keys = ["some secret hurr, at least thirty-two bytes long"];
  app.use(session(CONFIG, app));
  app.use(async (ctx, next) => {
    if (ctx.path === "/favicon.ico") return next();
    let n = ctx.session.views || 0;
    ctx.session.views = ++n;
    ctx.body = n + " views";
  });

  const storeApp = new Koa();
  storeApp.keys = app.keys;
  storeApp.use(session({ store: new LooseStore(), maxAge: "session" }, storeApp));
  storeApp.use(session(storeApp, { store: typedStore, key: "other" }));
  storeApp.use(async (ctx) => {
    if (ctx.path === "/login") {
      ctx.session.user = { name: "alice" };
      ctx.session.maxAge = 1000 * 60 * 60;
      await ctx.session.regenerate();
      ctx.body = ctx.session.externalKey;
      return;
    }
    if (ctx.path === "/logout") {
      ctx.session = null;
      ctx.body = "bye";
      return;
    }
    if (ctx.path === "/reset") {
      ctx.session = { views: 0 };
      ctx.sessionOptions.maxAge = 1000;
      return;
    }
    if (ctx.session.isNew) ctx.body = "new";
    else ctx.body = { name: ctx.session.user?.name, length: ctx.session.length, populated: ctx.session.populated };
    ctx.session.save();
    ctx.session.save(() => undefined);
    ctx.session.manuallyCommit();
    ctx.session.toJSON();
    await ctx.session.save().then(() => undefined);
    const userName: string | undefined = ctx.session.toJSON().user?.name;
    void userName;
  });

  const hooks = new Koa();
  hooks.keys = app.keys;
  hooks.use(
    session(
      {
        genid: (ctx) => `${ctx.path}-${Date.now()}_x`,
        prefix: "sess:",
        valid: (ctx, sess) => sess.userAgent === ctx.get("user-agent"),
        beforeSave: (ctx, sess) => {
          sess.userAgent = ctx.get("user-agent");
        },
        encode: (obj) => Buffer.from(JSON.stringify(obj)).toString("base64"),
        decode: (str) => JSON.parse(Buffer.from(str, "base64").toString()),
        externalKey: {
          get: (ctx) => ctx.get("x-session-id"),
          set: (ctx, value) => ctx.set("x-session-id", value),
        },
        ContextStore: class {
          constructor(readonly ctx: Koa.Context) {}
          async get(key: string) {
            return this.ctx.state[key];
          }
          async set(key: string, sess: object) {
            this.ctx.state[key] = sess;
          }
          async destroy(key: string) {
            delete this.ctx.state[key];
          }
        },
      },
      hooks,
    ),
  );
  return [app, storeApp, hooks];
}

/** An app with its own state and context types, as larger Koa codebases declare them. */
interface AppState {
  requestId?: string;
}
interface AppContext extends Koa.DefaultContext {
  log(message: string): void;
}

export function customContextApp(): Koa<AppState, AppContext> {
  const app = new Koa<AppState, AppContext>();
  app.keys = ["some secret hurr, at least thirty-two bytes long"];
  app.context.log = () => undefined;
  app.use(session({ maxAge: 60_000 }, app));
  app.use(async (ctx) => {
    ctx.log("counting");
    ctx.session.views = (ctx.session.views || 0) + 1;
    ctx.body = `${ctx.session.views} views`;
  });
  return app;
}
