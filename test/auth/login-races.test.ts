/**
 * A login racing another request on the same (anonymous) session. The password check takes a
 * while (argon2: tens to hundreds of ms), so a double-clicked login button sends two logins that both
 * loaded the same anonymous session, and the first to finish destroys it. The second login must
 * still log the user in: it replaces the session entirely (new id, new data, new metadata), so
 * writing it brings back nothing of the destroyed one. A plain regenerate() is different: it carries
 * the old data over, so after a concurrent logout it writes nothing (test/core/merge.test.ts).
 */
import request from "supertest";
import { describe, expect, it } from "vitest";
import { login } from "../../src/auth/index.js";
import { buildApp, cookieHeader } from "./helpers.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function slowLoginApp() {
  return buildApp({
    extra: {
      // A save first (lost if another request destroyed the session meanwhile), then the login.
      "POST /save-then-login": async (ctx) => {
        await sleep(Number(ctx.query.wait ?? 0));
        ctx.session!.step = "saved";
        await ctx.session!.save();
        await login(ctx, { id: "42" });
        ctx.body = { ok: true };
      },
      // The password check's time, then login(): as the reference app's POST /login does.
      "POST /slow-login": async (ctx) => {
        await sleep(Number(ctx.query.wait ?? 0));
        await login(ctx, { id: "42" });
        ctx.body = { ok: true };
      },
    },
  });
}

function sessionCookieLine(res: request.Response): string | undefined {
  return ((res.headers["set-cookie"] ?? []) as unknown as string[]).find((line) => line.startsWith("koa.sess="));
}

describe("login racing another request on the same session", () => {
  it("a double-submitted login: both log the user in, neither clears the cookie", async () => {
    const { server } = slowLoginApp();
    const anonCookie = cookieHeader(await request(server).post("/cart"));
    const [first, second] = await Promise.all([
      request(server).post("/slow-login?wait=5").set("Cookie", anonCookie),
      request(server).post("/slow-login?wait=40").set("Cookie", anonCookie),
    ]);
    for (const res of [first, second]) {
      expect(res.body).toEqual({ ok: true });
      const line = sessionCookieLine(res);
      expect(line).toBeDefined();
      expect(line).not.toMatch(/expires=Thu, 01 Jan 1970/i);
      const cookie = cookieHeader(res, anonCookie);
      expect((await request(server).get("/me").set("Cookie", cookie)).body).toEqual({ id: "42" });
    }
    // The anonymous session is gone either way.
    expect((await request(server).get("/cart").set("Cookie", anonCookie)).body).toEqual({ cart: null });
  });

  /** `path` (40 ms slow) on an anonymous session that another tab logs out 10 ms in; its cookie afterwards. */
  async function loginThroughLogout(path: string) {
    const { server } = slowLoginApp();
    const anonCookie = cookieHeader(await request(server).post("/cart"));
    const slow = request(server).post(`${path}?wait=40`).set("Cookie", anonCookie).then((res) => res);
    await sleep(10);
    expect((await request(server).post("/logout").set("Cookie", anonCookie)).status).toBe(204);
    const res = await slow;
    expect(res.body).toEqual({ ok: true });
    const cookie = cookieHeader(res, anonCookie);
    expect((await request(server).get("/me").set("Cookie", cookie)).body).toEqual({ id: "42" });
    return { server, cookie };
  }

  it("a login whose anonymous session another tab logged out meanwhile still logs in, without the old data", async () => {
    const { server, cookie } = await loginThroughLogout("/slow-login");
    expect((await request(server).get("/cart").set("Cookie", cookie)).body).toEqual({ cart: null });
  });

  it("a login after a save that a logout in another tab had already made moot still logs in", async () => {
    await loginThroughLogout("/save-then-login");
  });
});
