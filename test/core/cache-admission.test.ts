/**
 * The middleware's caches (verified cookies, store keys, opened sealed cookies) keep a cookie only
 * from its second request in a short while: a browser that comes back is answered from memory, and
 * many visitors seen once each leave nothing behind, so traffic from more sessions than the caches
 * hold does not churn them (bench/README.md, "Past the caches").
 */
import Koa from "koa";
import type { Context } from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session from "../../src/index.js";
import type { SessionOptions } from "../../src/index.js";
import type { Runtime } from "../../src/session/runtime.js";

const KEY = "cache-admission-key-".padEnd(40, "k");

function app(options: SessionOptions): { koa: Koa; runtime: () => Runtime } {
  const koa = new Koa();
  koa.keys = [KEY];
  koa.use(session(options, koa));
  koa.use((ctx: Context) => {
    if (ctx.path === "/login") ctx.session!.user = `u${String(ctx.query.n)}`;
    ctx.body = { user: ctx.session!.user ?? null };
  });
  const runtime = () => (koa.context as unknown as Record<symbol, Runtime>)[Symbol.for("koa-sessionkit.runtime")] as Runtime;
  return { koa, runtime };
}

function cookiesOf(response: request.Response): string {
  const lines = (response.headers["set-cookie"] ?? []) as unknown as string[];
  return lines.map((line) => line.split(";")[0]).join("; ");
}

async function logins(koa: Koa, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let n = 0; n < count; n++) cookies.push(cookiesOf(await request(koa.callback()).get(`/login?n=${n}`)));
  return cookies;
}

describe("the middleware's caches keep a cookie from its second request on", () => {
  it("cookie mode: 40 sealed cookies read once each are opened and kept nowhere; one read twice is kept", async () => {
    const { koa, runtime } = app({ mode: "cookie" });
    const cookies = await logins(koa, 40);
    for (const [n, cookie] of cookies.entries()) {
      expect((await request(koa.callback()).get("/").set("Cookie", cookie)).body).toEqual({ user: `u${n}` });
    }
    expect(runtime().opened.size).toBe(0);
    // The second read keeps it; the third is answered from the cache with the same session.
    for (let i = 0; i < 3; i++) expect((await request(koa.callback()).get("/").set("Cookie", cookies[7]!)).body).toEqual({ user: "u7" });
    expect(runtime().opened.size).toBe(1);
  });

  it("store mode: signatures and store keys of 40 cookies read once each are kept nowhere; one read twice is kept", async () => {
    const { koa, runtime } = app({});
    const cookies = await logins(koa, 40);
    for (const [n, cookie] of cookies.entries()) {
      expect((await request(koa.callback()).get("/").set("Cookie", cookie)).body).toEqual({ user: `u${n}` });
    }
    expect(runtime().verified.size).toBe(0);
    expect(runtime().storeKeys.size).toBe(0);
    for (let i = 0; i < 3; i++) expect((await request(koa.callback()).get("/").set("Cookie", cookies[3]!)).body).toEqual({ user: "u3" });
    expect(runtime().verified.size).toBe(1);
    expect(runtime().storeKeys.size).toBe(1);
  });
});
