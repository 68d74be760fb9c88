/**
 * The JSON helpers exported for custom-store authors: a store built on them hands the middleware the
 * text it parsed, so a read-only request needs no second serialize, and prototype keys never survive.
 */
import Koa from "koa";
import { describe, expect, it, vi } from "vitest";
import session, { parseStored, serializeStored, type SessionStore, type StoredSession } from "../../src/index.js";
import { Client, KEY1 } from "../core/_util.js";

class TextStore implements SessionStore {
  readonly rows = new Map<string, string>();
  get(key: string): StoredSession | null {
    return parseStored(this.rows.get(key));
  }
  set(key: string, session: StoredSession): void {
    this.rows.set(key, serializeStored(session));
  }
  destroy(key: string): boolean {
    return this.rows.delete(key);
  }
}

describe("parseStored / serializeStored for custom stores", () => {
  it("round-trips a session, reusing the middleware's text, and drops prototype keys", async () => {
    const store = new TextStore();
    const app = new Koa();
    app.keys = [KEY1];
    app.use(session({ store }, app));
    app.use((ctx) => {
      if (ctx.path === "/set") ctx.session.user = { name: "alice" };
      ctx.body = ctx.session.user ?? null;
    });
    const client = new Client(app.callback());
    await client.get("/set");
    const [key, text] = [...store.rows][0] ?? ["", ""];
    expect(JSON.parse(text).user).toEqual({ name: "alice" });

    const stringify = vi.spyOn(JSON, "stringify");
    expect((await client.get("/")).body).toEqual({ name: "alice" });
    // The loaded text came with the session: one serialize (the "unchanged?" check), none on load.
    expect(stringify.mock.calls.filter(([value]) => typeof value === "object" && value !== null && "_sk" in value)).toHaveLength(1);
    stringify.mockRestore();

    store.rows.set(key, '{"__proto__":{"polluted":1},"a":{"constructor":{"prototype":{"x":1}}},"b":2}');
    const parsed = parseStored(store.rows.get(key)) as StoredSession;
    expect(Object.keys(parsed)).toEqual(["a", "b"]);
    expect(parsed.a).toEqual({});
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parseStored("not json")).toBeNull();
    expect(parseStored("[1,2]")).toBeNull();
  });
});
