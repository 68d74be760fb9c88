/**
 * koa-session 7's own behaviours, reproduced side by side: each case runs the same app on the real
 * koa-session (a devDependency) and on koa-sessionkit, and checks that both do the same thing.
 * Deliberate differences live in docs/migrating-from-koa-session.md, not here.
 */
import Koa from "koa";
import type { Context, Middleware, Next } from "koa";
import koaSession from "koa-session";
import { afterEach, describe, expect, it, vi } from "vitest";
import session, { SessionConfigError } from "../../src/index.js";
import type { SessionOptions } from "../../src/index.js";
import { Client, KEY1, cookie, cookies } from "./_util.js";

const ONE_DAY = 86_400_000;

/** A store both libraries accept, recording what each `set` was given. */
class MapStore {
  readonly map = new Map<string, string>();
  readonly sets: Array<{ key: string; value: Record<string, unknown>; maxAge: unknown }> = [];
  async get(key: string): Promise<Record<string, unknown> | undefined> {
    const text = this.map.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  }
  async set(key: string, value: Record<string, unknown>, maxAge: unknown): Promise<void> {
    this.sets.push({ key, value: JSON.parse(JSON.stringify(value)) as Record<string, unknown>, maxAge });
    this.map.set(key, JSON.stringify(value));
  }
  async destroy(key: string): Promise<void> {
    this.map.delete(key);
  }
}

type Install = (options: SessionOptions, app: Koa) => Middleware;
const LIBRARIES: Array<[name: string, install: Install]> = [
  ["koa-session", (options, app) => koaSession(options as Parameters<typeof koaSession>[0], app) as Middleware],
  ["koa-sessionkit", (options, app) => session(options, app)],
];

/** One app per library: `build` installs the middleware (via `install`) and the routes. */
function each(build: (app: Koa, install: Install) => void): Array<[string, Koa]> {
  return LIBRARIES.map(([name, install]) => {
    const app = new Koa();
    app.keys = [KEY1];
    build(app, install);
    return [name, app];
  });
}

const near = (actual: number, expected: number) => Math.abs(actual - expected) < 2000;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("koa-session 7.0.2 behaviours, side by side", () => {
  it("1. ctx.session = { maxAge } sets the session's maxAge, saves and sends a cookie with that expiry", async () => {
    for (const [name, app] of each((app, install) => {
      app.use(install({ store: new MapStore() }, app));
      app.use((ctx) => {
        ctx.session = { maxAge: 60_000 };
        ctx.body = "ok";
      });
    })) {
      const res = await new Client(app.callback()).get("/");
      const expires = Date.parse(String(cookie(res)?.attrs.expires));
      expect(near(expires, Date.now() + 60_000), name).toBe(true);
    }
  });

  it("2. no maxAge option: a browser-session cookie, while the session and its store entry last one day", async () => {
    for (const [name, app] of each((app, install) => {
      const store = new MapStore();
      app.context.testStore = store;
      app.use(install({ store }, app));
      app.use((ctx) => {
        ctx.session.views = 1;
        ctx.body = "ok";
      });
    })) {
      const res = await new Client(app.callback()).get("/");
      for (const c of cookies(res)) expect(c.attrs.expires, `${name} ${c.name}`).toBeUndefined();
      const store = app.context.testStore as MapStore;
      const [write] = store.sets;
      expect(write?.maxAge, name).toBe(ONE_DAY + 10_000);
      expect(near(write?.value._expire as number, Date.now() + ONE_DAY), name).toBe(true);
    }
  });

  it("2b. the same in cookie mode (koa-session's default; ours sealed), and the old `maxage` spelling", async () => {
    for (const [name, app] of each((app, install) => {
      // koa-session is cookie mode without a store; koa-sessionkit needs it said.
      app.use(install(install === LIBRARIES[0]?.[1] ? {} : { mode: "cookie" }, app));
      app.use((ctx) => {
        ctx.session.views = 1;
        ctx.body = "ok";
      });
    })) {
      const res = await new Client(app.callback()).get("/");
      expect(cookie(res)?.value, name).toBeTruthy();
      expect(cookie(res)?.attrs.expires, name).toBeUndefined();
    }
    for (const [name, app] of each((app, install) => {
      app.use(install({ store: new MapStore(), maxage: 60_000 } as SessionOptions, app));
      app.use((ctx) => {
        ctx.session.views = 1;
        ctx.body = "ok";
      });
    })) {
      const res = await new Client(app.callback()).get("/");
      expect(near(Date.parse(String(cookie(res)?.attrs.expires)), Date.now() + 60_000), name).toBe(true);
    }
  });

  it("3. installing the middleware twice on one app works", async () => {
    for (const [name, app] of each((app, install) => {
      const store = new MapStore();
      app.use(install({ store }, app));
      app.use(install({ store }, app));
      app.use((ctx) => {
        ctx.session.views = (ctx.session.views ?? 0) + 1;
        ctx.body = String(ctx.session.views);
      });
    })) {
      const client = new Client(app.callback());
      expect((await client.get("/")).text, name).toBe("1");
      const second = await client.get("/");
      expect(second.text, name).toBe("2");
      expect(cookies(second).filter((c) => c.name === "koa.sess").length, name).toBeLessThanOrEqual(1);
    }
  });

  it("4. a custom genid runs when the session is created, so the handler sees the id", async () => {
    for (const [name, app] of each((app, install) => {
      let n = 0;
      const genid = (ctx: Context) => (ctx.state.sid = `sid-${++n}-0123456789abcdefghijkl`);
      app.use(install({ store: new MapStore(), genid }, app));
      app.use((ctx) => {
        ctx.body = { sid: ctx.state.sid ?? null, hasKey: typeof ctx.session.externalKey === "string" };
        ctx.session.user = "alice";
      });
    })) {
      const client = new Client(app.callback());
      const res = await client.get("/");
      expect(res.body, name).toEqual({ sid: "sid-1-0123456789abcdefghijkl", hasKey: true });
      // The id the handler saw is the one the cookie carries.
      expect(cookie(res)?.value, name).toBe("sid-1-0123456789abcdefghijkl");
    }
  });

  it("5. store mode: data put in ctx.session before the middleware ran is discarded", async () => {
    for (const [name, app] of each((app, install) => {
      const middleware = install({ store: new MapStore() }, app);
      app.use(async (ctx: Context, next: Next) => {
        ctx.session.early = "set before session()";
        await next();
      });
      app.use(middleware);
      app.use((ctx) => {
        ctx.body = { early: ctx.session.early ?? null };
      });
    })) {
      const res = await new Client(app.callback()).get("/");
      expect(res.body, name).toEqual({ early: null });
      expect(cookies(res), name).toEqual([]);
    }
  });

  it("6. a custom genid with short ids (Date.now() + '_x') works; koa-sessionkit warns once", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    for (const [name, app] of each((app, install) => {
      let n = 0;
      app.use(install({ store: new MapStore(), genid: () => `${Date.now()}_${++n}` }, app));
      app.use((ctx) => {
        ctx.session.views = (ctx.session.views ?? 0) + 1;
        ctx.body = String(ctx.session.views);
      });
    })) {
      const client = new Client(app.callback());
      const first = await client.get("/");
      expect(first.status, name).toBe(200);
      expect(cookie(first)?.value, name).toMatch(/^\d+_\d+$/);
      expect((await client.get("/")).text, name).toBe("2");
      expect((await new Client(app.callback()).get("/")).text, name).toBe("1");
    }
    const ours = warn.mock.calls.filter(([message]) => String(message).includes("genid returned a"));
    expect(ours).toHaveLength(1);
    expect(String(ours[0]?.[0])).toMatch(/koa-sessionkit: genid returned a \d+-character session id/);
  });

  it("7. a missing app says what koa-session says: `session(opts, app)`", () => {
    const theirs = (() => {
      try {
        koaSession({});
      } catch (err) {
        return err as Error;
      }
      throw new Error("koa-session accepted a missing app");
    })();
    expect(theirs).toBeInstanceOf(TypeError);
    let ours: unknown;
    try {
      // @ts-expect-error the app argument is missing on purpose
      session({});
    } catch (err) {
      ours = err;
    }
    expect(ours).toBeInstanceOf(SessionConfigError);
    expect(ours).toBeInstanceOf(TypeError);
    expect((ours as SessionConfigError).code).toBe("ERR_SESSIONKIT_MISSING_APP");
    expect((ours as Error).message).toContain(theirs.message);
  });
});

describe("custom genid values", () => {
  it("refuses what can't be a cookie value, with a stable code", async () => {
    for (const bad of ["", "a;b", 'quo"te', "sp ace", 42]) {
      const app = new Koa();
      app.keys = [KEY1];
      const errors: unknown[] = [];
      app.silent = true;
      app.on("error", (err) => errors.push(err));
      app.use(session({ store: new MapStore(), genid: () => bad as string }, app));
      app.use((ctx) => (ctx.body = "ok"));
      const res = await new Client(app.callback()).get("/");
      expect(res.status, String(bad)).toBe(500);
      expect((errors[0] as SessionConfigError).code, String(bad)).toBe("ERR_SESSIONKIT_GENID");
    }
  });

  it("does not warn for ids of 22 characters or more", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const app = new Koa();
    app.keys = [KEY1];
    app.use(session({ store: new MapStore(), genid: () => "x".repeat(22) }, app));
    app.use((ctx) => (ctx.session.a = 1));
    expect((await new Client(app.callback()).get("/")).status).toBe(404);
    expect(warn).not.toHaveBeenCalled();
  });
});
