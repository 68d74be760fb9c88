import type Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/index.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, ID_RE, cookie, delay, makeApp, sessionCookie, sha256 } from "./_util.js";

/** Reads the session, waits, then writes: the classic lost-update window. */
function raceApp(store = new CountingStore()) {
  const app: Koa = makeApp({ store }, async (ctx) => {
    const s = ctx.session!;
    const wait = Number(ctx.query.wait ?? 0);
    switch (ctx.path) {
      case "/login":
        s.user = "alice";
        break;
      case "/set": {
        const seen = s.toJSON();
        await delay(wait);
        s[String(ctx.query.key)] = String(ctx.query.value ?? true);
        ctx.body = { seen };
        return;
      }
      case "/logout":
        await delay(wait);
        ctx.session = null;
        break;
      case "/regenerate":
        await delay(wait);
        await s.regenerate();
        break;
    }
    ctx.body = ctx.session ? { isNew: ctx.session.isNew, data: ctx.session.toJSON() } : { session: null };
  });
  app.on("error", () => undefined);
  return { app, store, handler: app.callback() };
}

async function login(handler: ReturnType<Koa["callback"]>): Promise<string> {
  const client = new Client(handler);
  await client.get("/login");
  const id = client.jar.get("koa.sess") as string;
  expect(id).toMatch(ID_RE);
  return id;
}

/** Starts the request at once (a supertest Test only sends when then() is called). */
const get = (handler: ReturnType<Koa["callback"]>, id: string, path: string): Promise<request.Response> =>
  request(handler).get(path).set("Cookie", sessionCookie(id)).then((r) => r);

describe("parallel requests on one session (MemoryStore merge)", () => {
  it("MemoryStore implements merge and the middleware uses it for changes", async () => {
    expect(typeof new MemoryStore().merge).toBe("function");
    const { handler, store } = raceApp();
    const id = await login(handler);
    store.resetCounts();
    await get(handler, id, "/set?key=a");
    expect(store.calls).toMatchObject({ merge: 1, set: 0 });
  });

  it("two overlapping requests setting different keys: both keys survive", async () => {
    const { handler, store } = raceApp();
    const id = await login(handler);
    const [r1, r2] = await Promise.all([get(handler, id, "/set?key=a&value=1&wait=60"), get(handler, id, "/set?key=b&value=2&wait=20")]);
    // Both read the session before either wrote: the window was real.
    expect(r1.body.seen).toEqual({ user: "alice" });
    expect(r2.body.seen).toEqual({ user: "alice" });
    const final = await get(handler, id, "/");
    expect(final.body).toEqual({ isNew: false, data: { user: "alice", a: "1", b: "2" } });
    expect(await store.peek(sha256(id))).toMatchObject({ user: "alice", a: "1", b: "2" });
  });

  it("50 parallel requests each setting its own key: all 50 present", async () => {
    const { handler } = raceApp();
    const id = await login(handler);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => get(handler, id, `/set?key=k${i}&value=${i}&wait=${(i * 7) % 30}`)),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const data = (await get(handler, id, "/")).body.data as Record<string, string>;
    expect(Object.keys(data)).toHaveLength(51);
    for (let i = 0; i < 50; i++) expect(data[`k${i}`]).toBe(String(i));
    expect(data.user).toBe("alice");
  });

  it("a slow write racing a logout: destroy wins, the old cookie gets a fresh session", async () => {
    const { handler, store } = raceApp();
    const id = await login(handler);
    const slow = get(handler, id, "/set?key=cart&value=full&wait=80");
    await delay(10);
    const logout = await get(handler, id, "/logout");
    expect(logout.body).toEqual({ session: null });
    expect(cookie(logout)?.value).toBe("");
    const late = await slow;
    expect(late.status).toBe(200);
    // The slow request must not hand the client a live cookie for the destroyed session.
    const lateCookie = cookie(late);
    expect(lateCookie === undefined || lateCookie.value === "").toBe(true);
    expect(store.calls.merge).toBe(1); // the slow request did try to write back, and was refused
    expect(await store.peek(sha256(id))).toBeNull();
    const after = await get(handler, id, "/");
    expect(after.body).toEqual({ isNew: true, data: {} });
  });

  it("a slow logout after a quick write still ends logged out", async () => {
    const { handler, store } = raceApp();
    const id = await login(handler);
    const logout = get(handler, id, "/logout?wait=50");
    await delay(5);
    const write = await get(handler, id, "/set?key=x&value=1");
    expect(write.body.seen).toEqual({ user: "alice" }); // the write ran while the logout was in flight
    expect(store.calls.merge).toBe(1);
    await logout;
    expect(await store.peek(sha256(id))).toBeNull();
    expect((await get(handler, id, "/")).body).toEqual({ isNew: true, data: {} });
  });

  it("regenerate racing another write: exactly one live id, the old one dead", async () => {
    const inner = new MemoryStore();
    const { handler } = raceApp(new CountingStore({ inner }));
    const id = await login(handler);
    expect(inner.size).toBe(1);
    const regen = get(handler, id, "/regenerate?wait=10");
    const write = get(handler, id, "/set?key=late&value=1&wait=60");
    const [rr, rw] = await Promise.all([regen, write]);
    const newId = cookie(rr)?.value as string;
    expect(newId).toMatch(ID_RE);
    expect(newId).not.toBe(id);
    expect(inner.size).toBe(1);
    expect(inner.get(sha256(id))).toBeNull();
    expect(inner.get(sha256(newId))).toMatchObject({ user: "alice" });
    // The late write on the old id did not resurrect it, nor hand back a live old cookie.
    const wc = cookie(rw);
    expect(wc === undefined || wc.value === "" || wc.value === newId).toBe(true);
    expect((await get(handler, id, "/")).body).toEqual({ isNew: true, data: {} });
    expect((await get(handler, newId, "/")).body).toMatchObject({ isNew: false, data: { user: "alice" } });
  });

  it("regenerate racing a write that lands first: still one live id", async () => {
    const inner = new MemoryStore();
    const { handler } = raceApp(new CountingStore({ inner }));
    const id = await login(handler);
    const [rr] = await Promise.all([get(handler, id, "/regenerate?wait=60"), get(handler, id, "/set?key=early&value=1&wait=5")]);
    const newId = cookie(rr)?.value as string;
    expect(newId).not.toBe(id);
    expect(inner.size).toBe(1);
    expect(inner.get(sha256(id))).toBeNull();
    expect((await get(handler, id, "/")).body.isNew).toBe(true);
    expect((await get(handler, newId, "/")).body.isNew).toBe(false);
  });

  // Regression guard (fixed in 07a577a): a forced save of an existing session (save(), a maxAge
  // change) once went through store.set and recreated an entry a concurrent logout had just destroyed.
  for (const path of ["/force-save", "/force-maxage"]) {
    it(`a slow ${path.slice(7)} racing a logout: destroy still wins`, async () => {
      const store = new CountingStore();
      const app = makeApp({ store }, async (ctx) => {
        if (ctx.path === "/login") ctx.session!.user = "alice";
        if (ctx.path === "/logout") ctx.session = null;
        if (ctx.path === "/force-save") {
          await delay(60);
          await ctx.session!.save();
        }
        if (ctx.path === "/force-maxage") {
          await delay(60);
          ctx.session!.maxAge = 5000;
        }
        ctx.body = { isNew: ctx.session?.isNew ?? null, data: ctx.session?.toJSON() ?? null };
      });
      const handler = app.callback();
      const id = await login(handler);
      const slow = get(handler, id, path);
      await delay(10);
      expect((await get(handler, id, "/logout")).status).toBe(200);
      await slow;
      expect(await store.peek(sha256(id))).toBeNull();
      expect((await get(handler, id, "/")).body).toEqual({ isNew: true, data: {} });
    });
  }

  // Regression guard (fixed in 07a577a): regenerate() after a concurrent logout once wrote the loaded
  // data under a fresh id, so the logged-out session came back with a live cookie.
  it("a slow regenerate racing a logout: the logged-out data is not resurrected under a new id", async () => {
    const inner = new MemoryStore();
    const { handler } = raceApp(new CountingStore({ inner }));
    const id = await login(handler);
    const slow = get(handler, id, "/regenerate?wait=60");
    await delay(10);
    expect((await get(handler, id, "/logout")).status).toBe(200);
    const r = await slow;
    expect(inner.size).toBe(0);
    const issued = cookie(r)?.value;
    if (issued) expect((await get(handler, issued, "/")).body).toEqual({ isNew: true, data: {} });
  });
});
