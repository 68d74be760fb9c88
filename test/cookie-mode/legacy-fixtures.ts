/** What the koa-session migration tests share: a Map store, the same routes on both libraries, a cookie jar. */
import Koa from "koa";
import type { Context, Middleware } from "koa";
import koaSession from "koa-session";
import type request from "supertest";
import session from "../../src/index.js";
import type { SessionOptions } from "../../src/index.js";
import { cookieHeader, setCookies } from "./helpers.js";

/** The simplest store both libraries accept: a Map of JSON copies, as a real store would keep. */
export class MapStore {
  readonly map = new Map<string, string>();
  async get(key: string): Promise<Record<string, unknown> | undefined> {
    const text = this.map.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  }
  async set(key: string, value: unknown): Promise<void> {
    this.map.set(key, JSON.stringify(value));
  }
  async destroy(key: string): Promise<void> {
    this.map.delete(key);
  }
}

export const PROFILE = { name: "Alice", roles: ["admin", "editor"], prefs: { theme: "dark" } };

/** The same routes on both libraries: what a real app keeps across the switch. */
function routes(ctx: Context): void {
  const current = ctx.session as Record<string, unknown> | null;
  if (!current) throw new Error("session missing");
  if (ctx.path === "/login") {
    current.user = "alice";
    current.profile = PROFILE;
    ctx.body = "ok";
  } else {
    ctx.body = { user: current.user ?? null, profile: current.profile ?? null };
  }
}

export function makeApp(keys: string[], middleware: (app: Koa) => Middleware): { app: Koa; errors: unknown[] } {
  const app = new Koa();
  app.keys = keys;
  app.silent = true;
  const errors: unknown[] = [];
  app.on("error", (err: unknown) => errors.push(err));
  app.use(middleware(app));
  app.use(routes);
  return { app, errors };
}

export const oldApp = (keys: string[], options: Parameters<typeof koaSession>[0] = {}) =>
  makeApp(keys, (app) => koaSession(options, app) as Middleware);
export const newApp = (keys: string[], options: SessionOptions = {}) => makeApp(keys, (app) => session(options, app));

/** The cookies a browser would now hold, as a Cookie header. */
export function jar(res: request.Response): string {
  const values: Record<string, string> = {};
  for (const [name, { value }] of setCookies(res)) if (value) values[name] = value;
  return cookieHeader(values);
}

export const LOGGED_IN = { user: "alice", profile: PROFILE };
export const ANONYMOUS = { user: null, profile: null };
