/**
 * koa-session → koa-sessionkit in store mode, on the first requests after the switch (found by a
 * migration run against koa-redis): a page's parallel requests all carry the old cookie, and a
 * logout may be the very first request.
 */
import request from "supertest";
import { describe, expect, it } from "vitest";
import { storeKeyFor, type SessionEvent } from "../../src/index.js";
import { KEY_A } from "./helpers.js";
import { ANONYMOUS, jar, LOGGED_IN, MapStore, newApp, oldApp } from "./legacy-fixtures.js";

async function legacyLogin(store: MapStore) {
  const before = await request(oldApp([KEY_A], { store }).app.callback()).get("/login");
  return { before, legacyId: /koa\.sess=([^;]+)/.exec(String(before.headers["set-cookie"]))?.[1] as string };
}

describe("legacy koa-session, store mode: the first requests after the switch", () => {
  it("ten parallel requests with one old cookie all get the same new cookie: nobody is logged out, one new entry", async () => {
    const store = new MapStore();
    const { before, legacyId } = await legacyLogin(store);
    const { app, errors } = newApp([KEY_A], { store, legacy: "koa-session" });
    const replies = await Promise.all(Array.from({ length: 10 }, () => request(app.callback()).get("/whoami").set("Cookie", jar(before))));
    const ids = new Set<string>();
    for (const reply of replies) {
      expect(reply.body).toEqual(LOGGED_IN);
      const id = /koa\.sess=([^;]*)/.exec(String(reply.headers["set-cookie"]))?.[1];
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/); // never the clearing koa.sess=
      ids.add(id as string);
    }
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    expect(store.map.has(legacyId)).toBe(false);
    expect([...store.map.keys()]).toEqual([storeKeyFor(id as string)]);
    expect(errors).toEqual([]);
  });

  it("a logout as the first request destroys the koa-session entry too: the old cookie can't log back in", async () => {
    const store = new MapStore();
    const { before, legacyId } = await legacyLogin(store);
    const { app } = newApp([KEY_A], { store, legacy: "koa-session" });
    app.middleware.splice(1, 0, async (ctx, next) => {
      if (ctx.path === "/logout") {
        ctx.session = null;
        ctx.body = "bye";
        return;
      }
      await next();
    });
    const out = await request(app.callback()).get("/logout").set("Cookie", jar(before));
    expect(out.text).toBe("bye");
    expect(store.map.has(legacyId)).toBe(false);
    expect(store.map.size).toBe(0);
    expect((await request(app.callback()).get("/whoami").set("Cookie", jar(before))).body).toEqual(ANONYMOUS);
  });

  it("a verified old cookie whose entry is gone emits session:missed, as koa-session does", async () => {
    const store = new MapStore();
    const { before, legacyId } = await legacyLogin(store);
    store.map.delete(legacyId);
    const { app } = newApp([KEY_A], { store, legacy: "koa-session" });
    const missed = new Promise<SessionEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no session:missed within 1 s")), 1000);
      app.once("session:missed", (event: SessionEvent) => {
        clearTimeout(timer);
        resolve(event);
      });
    });
    expect((await request(app.callback()).get("/whoami").set("Cookie", jar(before))).body).toEqual(ANONYMOUS);
    expect((await missed).key).toBe(legacyId);
  });

  it("with signed: false too, that cookie's value (not shaped like our ids) gets one session:missed, the legacy reader's, not two", async () => {
    const store = new MapStore();
    const { before, legacyId } = await legacyLogin(store);
    store.map.delete(legacyId);
    const { app } = newApp([KEY_A], { store, legacy: "koa-session", signed: false });
    const seen: SessionEvent[] = [];
    app.on("session:missed", (event: SessionEvent) => seen.push(event));
    expect((await request(app.callback()).get("/whoami").set("Cookie", jar(before))).body).toEqual(ANONYMOUS);
    // An unsigned value the legacy reader does not take (no Keygrip signature): our own missed event.
    expect((await request(app.callback()).get("/whoami").set("Cookie", "koa.sess=not-a-session")).body).toEqual(ANONYMOUS);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen.map((event) => event.key)).toEqual([legacyId, undefined]);
  });
});
