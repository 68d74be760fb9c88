/**
 * The koa-session app in koa-session-app.ts compiles (typecheck covers it) and also runs: the view
 * counter counts, a koa-session-typed store serves the second app, and the hooks app answers.
 */
import { describe, expect, it } from "vitest";
import { Client } from "../core/_util.js";
import { buildApps, customContextApp } from "./koa-session-app.js";

describe("typical koa-session TypeScript code on koa-sessionkit", () => {
  it("runs unchanged", async () => {
    const [counter, stored, hooks] = buildApps();
    const client = new Client(counter!.callback());
    expect((await client.get("/")).text).toBe("1 views");
    expect((await client.get("/")).text).toBe("2 views");

    const storeClient = new Client(stored!.callback());
    const login = await storeClient.get("/login");
    expect(login.status).toBe(200);
    expect(login.text).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await storeClient.get("/")).body).toMatchObject({ name: "alice", populated: true });
    expect((await storeClient.get("/logout")).text).toBe("bye");

    const hooked = await new Client(hooks!.callback()).get("/", { "user-agent": "test" });
    expect(hooked.status).toBe(404);
  });

  it("takes an app with its own state and context types (new Koa<State, Context>())", async () => {
    const client = new Client(customContextApp().callback());
    expect((await client.get("/")).text).toBe("1 views");
    expect((await client.get("/")).text).toBe("2 views");
  });
});
