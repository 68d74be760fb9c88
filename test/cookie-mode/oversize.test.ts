/**
 * Security/robustness property: a sealed cookie larger than browsers keep (4096 bytes for name, value
 * and attributes) is never sent, since a browser would silently drop it and the user would be logged
 * out with no trace. Commit raises the typed SessionTooLargeError instead; the client sees a bare 500.
 */
import Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session, { SessionTooLargeError } from "../../src/index.js";
import { cookieApp, cookieHeader, cookieValue, KEY_A, setCookies } from "./helpers.js";
import { setCookieLines } from "../helpers/set-cookie.js";


describe("cookie mode: oversized sessions", () => {
  it("raises SessionTooLargeError at commit, sends no Set-Cookie and answers 500 without a stack", async () => {
    const { app, errors } = cookieApp([KEY_A]);
    const res = await request(app.callback()).get("/grow?n=6000");

    expect(res.status).toBe(500);
    expect(res.headers["set-cookie"]).toBeUndefined();
    expect(res.text).toBe("Internal Server Error");
    expect(res.text).not.toMatch(/\bat \S+ \(|SessionTooLarge|koa-sessionkit/);

    expect(errors).toHaveLength(1);
    const err = errors[0] as SessionTooLargeError;
    expect(err).toBeInstanceOf(SessionTooLargeError);
    expect(err.code).toBe("ERR_SESSIONKIT_SESSION_TOO_LARGE");
    expect(err.limit).toBe(4096);
    expect(err.size).toBeGreaterThan(4096);
    expect(err.message).toMatch(/^koa-sessionkit: /);
    expect(err.message).toContain(`${err.size} bytes`);
    expect(err.message).toMatch(/mode: "store"/);
  });

  it("can be caught by an outer middleware, which sees the typed error", async () => {
    const app = new Koa();
    app.keys = [KEY_A];
    const caught: unknown[] = [];
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        caught.push(err);
        ctx.status = 413;
        ctx.body = { error: "session too large" };
      }
    });
    app.use(session({ mode: "cookie" }, app));
    app.use((ctx) => {
      ctx.session!.blob = "q".repeat(5000);
      ctx.body = "ok";
    });
    const res = await request(app.callback()).get("/");
    expect(res.status).toBe(413);
    expect(res.headers["set-cookie"]).toBeUndefined();
    expect(caught).toHaveLength(1);
    expect((caught[0] as SessionTooLargeError).code).toBe("ERR_SESSIONKIT_SESSION_TOO_LARGE");
  });

  it("leaves an existing session as it was: the previous cookie still opens", async () => {
    const { app } = cookieApp([KEY_A]);
    const token = cookieValue(await request(app.callback()).get("/login"));
    const grown = await request(app.callback()).get("/grow?n=8000").set("Cookie", cookieHeader({ "koa.sess": token }));
    expect(grown.status).toBe(500);
    expect(grown.headers["set-cookie"]).toBeUndefined();
    const after = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": token }));
    expect(after.body).toEqual({ user: "alice", isNew: false });
  });

  it("the largest session accepted makes a Set-Cookie line of at most 4096 bytes; a little more is refused", async () => {
    const { app } = cookieApp([KEY_A], { domain: "example.com", path: "/app", secure: true, sameSite: "strict" });
    const grow = (n: number) => request(app.callback()).get(`/grow?n=${n}`).set("X-Forwarded-Proto", "https");
    // Binary search over the data size, through HTTP, for the edge of what is accepted.
    let ok = 0;
    let tooBig = 6000;
    while (tooBig - ok > 1) {
      const middle = Math.floor((ok + tooBig) / 2);
      if ((await grow(middle)).status === 200) ok = middle;
      else tooBig = middle;
    }
    const accepted = await grow(ok);
    const line = setCookieLines(accepted).find((value) => value.startsWith("koa.sess="));
    expect(line).toBeDefined();
    expect(Buffer.byteLength(line as string)).toBeLessThanOrEqual(4096);
    // Close to the limit: the size check counts the real attributes rather than a rough margin.
    expect(Buffer.byteLength(line as string)).toBeGreaterThan(4096 - 8);
    expect(setCookies(accepted).get("koa.sess")?.attributes.domain).toBe("example.com");
    expect((await grow(ok + 1)).status).toBe(500);
  });
});
