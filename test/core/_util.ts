/** Shared helpers for the HTTP-level core suite (not a test file itself). */
import { createHash, createHmac } from "node:crypto";
import Koa from "koa";
import request, { type Response } from "supertest";
import session, { type SessionOptions } from "../../src/index.js";
import { parseSetCookies, type ParsedCookie } from "../helpers/set-cookie.js";

export const KEY1 = "k1-0123456789abcdef0123456789abcdef-signing";
export const KEY2 = "k2-fedcba9876543210fedcba9876543210-previous";
export const ID_RE = /^[A-Za-z0-9_-]{43}$/;

export function sign(value: string, key: string = KEY1, name = "koa.sess", algorithm = "sha256"): string {
  return createHmac(algorithm, key).update(`${name}=${value}`).digest("base64url");
}

export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("base64url");
}

export { parseSetCookie, setCookieLines as setCookies, type ParsedCookie } from "../helpers/set-cookie.js";

export function cookies(res: Response): ParsedCookie[] {
  return parseSetCookies(res);
}

export function cookie(res: Response, name = "koa.sess"): ParsedCookie | undefined {
  return cookies(res).find((c) => c.name === name);
}

export function isExpired(c: ParsedCookie | undefined): boolean {
  const expires = c?.attrs.expires;
  return typeof expires === "string" && Date.parse(expires) <= Date.now() && c?.value === "";
}

/** The Cookie request header that sends back what a response set (values only). */
export function cookieHeader(res: Response): string {
  return cookies(res)
    .filter((c) => c.value !== "")
    .map((c) => `${c.name}=${c.value}`)
    .join("; ");
}

/** Cookie header for a session id signed with `key`. */
export function sessionCookie(id: string, key: string = KEY1, name = "koa.sess"): string {
  return `${name}=${id}; ${name}.sig=${sign(id, key, name)}`;
}

/**
 * A cookie jar that ignores Secure/Domain/Path (supertest's agent drops Secure cookies over HTTP):
 * it sends back whatever the last responses set, and forgets cookies that were expired.
 */
export class Client {
  readonly jar = new Map<string, string>();
  constructor(readonly handler: ReturnType<Koa["callback"]>) {}

  header(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async get(path = "/", headers: Record<string, string> = {}): Promise<Response> {
    let req = request(this.handler).get(path);
    const cookieLine = this.header();
    if (cookieLine) req = req.set("Cookie", cookieLine);
    for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
    const res = await req;
    this.absorb(res);
    return res;
  }

  absorb(res: Response): void {
    for (const c of cookies(res)) {
      const expires = c.attrs.expires;
      if (c.value === "" || (typeof expires === "string" && Date.parse(expires) <= Date.now())) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
  }
}

export function makeApp(options: SessionOptions = {}, ...handlers: Koa.Middleware[]): Koa {
  const app = new Koa();
  app.keys = [KEY1, KEY2];
  app.use(session(options, app));
  for (const handler of handlers) app.use(handler);
  return app;
}

/** A view counter handler: increments ctx.session.views and answers "<n> views". */
export const viewCounter: Koa.Middleware = (ctx) => {
  if (ctx.path === "/favicon.ico") return;
  const n = ((ctx.session?.views as number | undefined) ?? 0) + 1;
  ctx.session!.views = n;
  ctx.body = `${n} views`;
};

/** Resolve with the first emission of `event`, or reject after `ms`. */
export function nextEvent<T = unknown>(emitter: { once(event: string, fn: (value: T) => void): unknown }, event: string, ms = 1000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
