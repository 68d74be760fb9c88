import Koa from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session from "../src/index.js";

const KEYS = ["a".repeat(32), "b".repeat(32)];

describe("smoke", () => {
  it("counts views", async () => {
    const app = new Koa();
    app.keys = KEYS;
    app.use(session({}, app));
    app.use((ctx) => {
      if (ctx.path === "/favicon.ico") return;
      const n = ((ctx.session?.views as number | undefined) ?? 0) + 1;
      ctx.session!.views = n;
      ctx.body = n + " views";
    });
    const agent = request.agent(app.callback());
    const r1 = await agent.get("/");
    expect(r1.text).toBe("1 views");
    console.log(r1.headers["set-cookie"]);
    expect((await agent.get("/")).text).toBe("2 views");
    expect((await agent.get("/")).text).toBe("3 views");
  });
  it("cookie mode", async () => {
    const app = new Koa();
    app.keys = KEYS;
    app.use(session({ mode: "cookie" }, app));
    app.use((ctx) => {
      const n = ((ctx.session?.views as number | undefined) ?? 0) + 1;
      ctx.session!.views = n;
      ctx.body = n + " views";
    });
    const agent = request.agent(app.callback());
    const r1 = await agent.get("/");
    console.log(r1.headers["set-cookie"]);
    expect((await agent.get("/")).text).toBe("2 views");
  });
});
