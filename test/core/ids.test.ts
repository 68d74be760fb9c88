import { describe, expect, it } from "vitest";
import { generateId, storeKeyFor } from "../../src/index.js";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, ID_RE, cookie, makeApp, sessionCookie, sha256, viewCounter } from "./_util.js";

describe("session ids", () => {
  it("are 43-char base64url (32 bytes) and unique across 10,000 generations", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = generateId();
      expect(id).toMatch(ID_RE);
      expect(Buffer.from(id, "base64url").length).toBe(32);
      ids.add(id);
    }
    expect(ids.size).toBe(10_000);
  });

  it("are not a constant or all-zero pattern", () => {
    const id = generateId();
    expect(Buffer.from(id, "base64url").equals(Buffer.alloc(32))).toBe(false);
    expect(new Set(id).size).toBeGreaterThan(10);
  });

  it("each HTTP session gets its own 32-byte id", async () => {
    const handler = makeApp({}, viewCounter).callback();
    const ids = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const id = cookie(await new Client(handler).get("/"))?.value as string;
      expect(Buffer.from(id, "base64url").length).toBe(32);
      ids.add(id);
    }
    expect(ids.size).toBe(100);
  });
});

describe("store keys", () => {
  it("are prefix + sha256(id), and neither keys nor values contain the id", async () => {
    for (const prefix of ["", "app1:sess:"]) {
      const store = new CountingStore();
      const handler = makeApp({ store, prefix }, (ctx) => {
        ctx.session!.views = ((ctx.session!.views as number) ?? 0) + 1;
        ctx.session!.nested = { note: "hello" };
        ctx.body = "ok";
      }).callback();
      const clients = [new Client(handler), new Client(handler), new Client(handler)];
      for (const c of clients) {
        await c.get("/");
        await c.get("/");
      }
      const ids = clients.map((c) => c.jar.get("koa.sess") as string);
      expect(new Set(store.keys)).toEqual(new Set(ids.map((id) => prefix + sha256(id))));
      expect(ids.map((id) => storeKeyFor(id, prefix))).toEqual(ids.map((id) => prefix + sha256(id)));
      const dump = await store.dump();
      expect(dump).toHaveLength(3);
      for (const [key, value] of dump) {
        for (const id of ids) {
          expect(key).not.toContain(id);
          expect(value).not.toContain(id);
          expect(value).not.toContain(id.slice(0, 16));
        }
        expect(JSON.parse(value)).toMatchObject({ views: 2, nested: { note: "hello" } });
      }
    }
  });

  it("the store key is not derivable from the cookie without hashing: a store key as cookie is useless", async () => {
    const store = new CountingStore();
    const handler = makeApp({ store }, viewCounter).callback();
    const client = new Client(handler);
    await client.get("/");
    const key = [...store.keys][0] as string;
    expect(key).toMatch(ID_RE); // sha256 base64url is also 43 chars
    const r = await new Client(handler).get("/", { Cookie: sessionCookie(key) });
    expect(r.text).toBe("1 views");
  });
});
