import Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session from "../../src/index.js";
import { Client, KEY1, cookie, cookies, makeApp, viewCounter } from "./_util.js";

function proxied(options: Parameters<typeof makeApp>[0] = {}): Koa {
  const app = makeApp(options, viewCounter);
  app.proxy = true;
  return app;
}

describe("cookie attributes", () => {
  it("defaults: HttpOnly, SameSite=Lax, Path=/, a browser-session cookie (no Expires), no Domain", async () => {
    const r = await request(makeApp({}, viewCounter).callback()).get("/");
    for (const c of [cookie(r), cookie(r, "koa.sess.sig")]) {
      expect(c?.attrs.httponly).toBe(true);
      expect(c?.attrs.samesite).toBe("lax");
      expect(c?.attrs.path).toBe("/");
      expect(c?.attrs.domain).toBeUndefined();
      expect(c?.attrs.expires).toBeUndefined();
    }
  });

  it("maxAge: Expires that far out", async () => {
    const r = await request(makeApp({ maxAge: 86_400_000 }, viewCounter).callback()).get("/");
    for (const c of [cookie(r), cookie(r, "koa.sess.sig")]) {
      expect(Math.abs(Date.parse(String(c?.attrs.expires)) - (Date.now() + 86_400_000))).toBeLessThan(2000);
    }
  });

  it("Secure when the request is HTTPS behind a trusted proxy", async () => {
    const r = await request(proxied().callback()).get("/").set("X-Forwarded-Proto", "https");
    expect(cookie(r)?.attrs.secure).toBe(true);
    expect(cookie(r, "koa.sess.sig")?.attrs.secure).toBe(true);
  });

  it("not Secure on plain HTTP", async () => {
    const r = await request(proxied().callback()).get("/");
    expect(cookie(r)?.attrs.secure).toBeUndefined();
    const r2 = await request(makeApp({}, viewCounter).callback()).get("/").set("X-Forwarded-Proto", "https");
    expect(cookie(r2)?.attrs.secure).toBeUndefined(); // app.proxy is off: the header is not trusted
  });

  it("explicit secure: true on a plain-HTTP request does not crash", async () => {
    const app = makeApp({ secure: true }, viewCounter);
    const errors: unknown[] = [];
    app.on("error", (err) => errors.push(err));
    const client = new Client(app.callback());
    const r = await client.get("/");
    expect(r.status).toBe(200);
    expect(cookie(r)?.attrs.secure).toBe(true);
    expect(cookie(r, "koa.sess.sig")?.attrs.secure).toBe(true);
    expect((await client.get("/")).text).toBe("2 views");
    expect(errors).toEqual([]);
  });

  it("a __Host- name works with default options over proxied HTTPS", async () => {
    const app = new Koa();
    app.keys = [KEY1];
    app.proxy = true;
    app.use(session({ key: "__Host-sid" }, app));
    app.use(viewCounter);
    const handler = app.callback();
    const r1 = await request(handler).get("/").set("X-Forwarded-Proto", "https");
    const c = cookie(r1, "__Host-sid");
    expect(r1.status).toBe(200);
    expect(c?.attrs.secure).toBe(true);
    expect(c?.attrs.path).toBe("/");
    expect(c?.attrs.domain).toBeUndefined();
    expect(cookie(r1, "__Host-sid.sig")?.attrs.secure).toBe(true);
    const cookieLine = cookies(r1).map((x) => `${x.name}=${x.value}`).join("; ");
    const r2 = await request(handler).get("/").set("X-Forwarded-Proto", "https").set("Cookie", cookieLine);
    expect(r2.text).toBe("2 views");
  });

  it("cleared cookies carry the same path/domain so the browser really drops them", async () => {
    const app = makeApp({ path: "/app", domain: "example.com" }, (ctx) => {
      if (ctx.path === "/app/logout") ctx.session = null;
      else ctx.session!.x = 1;
      ctx.body = "ok";
    });
    const client = new Client(app.callback());
    await client.get("/app");
    const r = await client.get("/app/logout");
    const c = cookie(r);
    expect(c?.value).toBe("");
    expect(c?.attrs.path).toBe("/app");
    expect(c?.attrs.domain).toBe("example.com");
    expect(Date.parse(String(c?.attrs.expires))).toBe(0);
  });
});
