/**
 * Migrating large koa-session cookie-mode sessions, against the real koa-session 7. Its cookie is
 * base64 JSON; re-sealed (AES-GCM, base64url, plus our metadata) the same session needs about 230
 * bytes more, so a koa-session cookie between ~3.85 KB and the browser's 4 KB can't be re-sealed into
 * a cookie a browser keeps. A request that only reads must still work: the koa-session cookie is kept
 * as it is until the handler changes the session. Each size band is tested:
 *   - just under the limit: the largest session that still re-seals is migrated on a read;
 *   - just over it, and the reproduction (a pad of 2,880: a ~3.9 KB cookie);
 *   - the browser maximum ("koa.sess=" + value = 4,096 bytes): kept, every read works.
 */
import Koa from "koa";
import type { Context, Middleware } from "koa";
import koaSession from "koa-session";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session from "../../src/index.js";
import type { SessionEvent, SessionOptions } from "../../src/index.js";
import { cookieHeader, KEY_A, setCookies } from "./helpers.js";

/** A typical koa-session app: a short key, as in koa-session's README. */
const OLD_KEY = "im a secret";
/** RFC 6265's minimum that browsers implement as their maximum: name + value of one cookie. */
const BROWSER_MAX_BYTES = 4096;

/**
 * Routes, the same on both libraries:
 *   /login?pad=N  user "alice" plus N characters of padding
 *   /whoami       reads only: { user, pad }
 *   /note         adds a small field (a change)
 *   /shrink       drops the padding (a change that makes the session small)
 */
function routes(ctx: Context): void {
  const current = ctx.session as Record<string, unknown> | null;
  if (!current) throw new Error("session missing");
  if (ctx.path === "/login") {
    current.user = "alice";
    current.pad = "p".repeat(Number(ctx.query.pad));
  } else if (ctx.path === "/note") {
    current.note = "hello";
  } else if (ctx.path === "/shrink") {
    delete current.pad;
  }
  ctx.body = { user: current.user ?? null, pad: typeof current.pad === "string" ? current.pad.length : null };
}

function makeApp(keys: string[], middleware: (app: Koa) => Middleware) {
  const app = new Koa();
  app.keys = keys;
  app.silent = true;
  const errors: unknown[] = [];
  const kept: SessionEvent[] = [];
  app.on("error", (err: unknown) => errors.push(err));
  app.on("session:legacy-kept", (event: SessionEvent) => kept.push(event));
  app.use(middleware(app));
  app.use(routes);
  return { app, errors, kept };
}

const oldApp = () => makeApp([OLD_KEY], (app) => koaSession({}, app) as Middleware);
const newApp = (options: SessionOptions = {}) =>
  makeApp([KEY_A], (app) => session({ mode: "cookie", legacy: "koa-session", legacyKeys: [OLD_KEY], ...options }, app));

/** koa-session's cookies for a session padded with `pad` characters, as a Cookie header. */
async function legacyCookie(pad: number): Promise<{ header: string; value: string }> {
  const res = await request(oldApp().app.callback()).get(`/login?pad=${pad}`);
  const value = setCookies(res).get("koa.sess")?.value as string;
  const sig = setCookies(res).get("koa.sess.sig")?.value as string;
  expect(sig).toMatch(/^[A-Za-z0-9_-]{27}$/);
  return { header: cookieHeader({ "koa.sess": value, "koa.sess.sig": sig }), value };
}

/** The Set-Cookie line for koa.sess, if the response has one. */
function sessionLine(res: request.Response): string | undefined {
  const header = res.headers["set-cookie"] as unknown as string[] | undefined;
  return header?.find((line) => line.startsWith("koa.sess="));
}

/** Whether a read-only request re-issues the koa-session cookie padded with `pad` as a sealed one. */
async function migratesOnRead(pad: number): Promise<boolean> {
  const { header } = await legacyCookie(pad);
  const res = await request(newApp().app.callback()).get("/whoami").set("Cookie", header);
  expect(res.status).toBe(200);
  return sessionLine(res) !== undefined;
}

/** The largest padding whose session still re-seals into a cookie a browser keeps. */
async function largestMigratingPad(): Promise<number> {
  let low = 0; // migrates
  let high = 4000; // does not
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await migratesOnRead(middle)) low = middle;
    else high = middle;
  }
  return low;
}

/** A read-only request with a koa-session cookie too large to re-seal: served, and the cookie kept. */
async function expectKept(header: string, pad: number, options: SessionOptions = {}) {
  const { app, errors, kept } = newApp(options);
  for (let i = 0; i < 3; i++) {
    const res = await request(app.callback()).get("/whoami").set("Cookie", header);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: "alice", pad });
    expect(res.headers["set-cookie"]).toBeUndefined(); // the browser keeps its koa-session cookie
  }
  await new Promise((resolve) => setImmediate(resolve));
  expect(kept).toHaveLength(3);
  expect(kept[0]?.value).toMatchObject({ user: "alice" });
  expect(errors).toEqual([]);
  return app;
}

describe("legacy koa-session cookie mode: every size band", () => {
  it("just under the limit: the largest session that re-seals into 4096 bytes is migrated on a read", async () => {
    const pad = await largestMigratingPad();
    const { header, value } = await legacyCookie(pad);
    expect(value.length).toBeGreaterThan(3800); // the band edge the issue measured (~3.85 KB)
    const { app, errors, kept } = newApp();
    const res = await request(app.callback()).get("/whoami").set("Cookie", header);
    expect(res.body).toEqual({ user: "alice", pad });
    const line = sessionLine(res) as string;
    expect(line).toMatch(/^koa\.sess=v1\./);
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(BROWSER_MAX_BYTES);
    expect(Buffer.byteLength(line)).toBeGreaterThan(BROWSER_MAX_BYTES - 8); // really at the edge
    expect(setCookies(res).get("koa.sess.sig")?.value).toBe(""); // koa-session's .sig expired

    const token = setCookies(res).get("koa.sess")?.value as string;
    const next = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": token }));
    expect(next.body).toEqual({ user: "alice", pad });
    expect(next.headers["set-cookie"]).toBeUndefined();
    expect(errors).toEqual([]);
    expect(kept).toEqual([]);

    // One character more and the sealed cookie would pass 4096 bytes: kept, not a 500.
    await expectKept((await legacyCookie(pad + 1)).header, pad + 1);
  });

  it("the issue's reproduction (pad 2880, ~3.9 KB of cookie): reads work, a change that fits migrates", async () => {
    const { header, value } = await legacyCookie(2880);
    expect(value.length).toBeGreaterThan(3850); // the band between ~3.85 KB and 4 KB
    expect(value.length).toBeLessThan(4000);
    const app = await expectKept(header, 2880);

    // A change that leaves it too large is the normal oversized write: 500, nothing sent, and the
    // browser's koa-session cookie still works on the next request.
    const errors: unknown[] = [];
    app.on("error", (err: unknown) => errors.push(err));
    const grown = await request(app.callback()).get("/note").set("Cookie", header);
    expect(grown.status).toBe(500);
    expect(grown.headers["set-cookie"]).toBeUndefined();
    expect(errors[0]).toMatchObject({ code: "ERR_SESSIONKIT_SESSION_TOO_LARGE" });
    const still = await request(app.callback()).get("/whoami").set("Cookie", header);
    expect(still.body).toEqual({ user: "alice", pad: 2880 });

    // A change that makes it fit migrates it: sealed, and koa-session's .sig expired.
    const shrunk = await request(app.callback()).get("/shrink").set("Cookie", header);
    expect(shrunk.status).toBe(200);
    expect(shrunk.body).toEqual({ user: "alice", pad: null });
    const token = setCookies(shrunk).get("koa.sess")?.value as string;
    expect(token).toMatch(/^v1\./);
    expect(setCookies(shrunk).get("koa.sess.sig")?.value).toBe("");
    const after = await request(app.callback()).get("/whoami").set("Cookie", cookieHeader({ "koa.sess": token }));
    expect(after.body).toEqual({ user: "alice", pad: null });
  });

  it("rolling and renew refresh nothing they can't send: the koa-session cookie is kept", async () => {
    const { header } = await legacyCookie(2880);
    await expectKept(header, 2880, { rolling: true });
    await expectKept(header, 2880, { renew: true });
  });

  it("the browser maximum: a koa-session cookie of 4096 bytes (name + value) is served and kept", async () => {
    // koa-session writes base64 of its JSON, so the value grows in steps of 4 characters.
    const overhead = (await legacyCookie(0)).value.length;
    const maxValue = Math.floor((BROWSER_MAX_BYTES - "koa.sess=".length) / 4) * 4;
    let pad = Math.floor(((maxValue - overhead) * 3) / 4);
    while ((await legacyCookie(pad + 1)).value.length <= maxValue) pad++;
    const { header, value } = await legacyCookie(pad);
    expect(value.length).toBe(maxValue);
    expect(Buffer.byteLength(`koa.sess=${value}`)).toBeLessThanOrEqual(BROWSER_MAX_BYTES);
    expect(Buffer.byteLength(`koa.sess=${value}`)).toBeGreaterThan(BROWSER_MAX_BYTES - 4);
    await expectKept(header, pad);
  });
});
