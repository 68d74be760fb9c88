/** Replacing the whole session (`ctx.session = {}`), a common koa-session way to reset, ends the login. */
import request from "supertest";
import { describe, expect, it } from "vitest";
import { buildApp, cookieHeader } from "./helpers.js";

describe("ctx.session = {…} replaces the session", () => {
  it("drops the login kept in metadata", async () => {
    const { server } = buildApp({
      extra: {
        "POST /reset": (ctx) => {
          ctx.session = { theme: "dark" };
          ctx.body = { ok: true };
        },
      },
    });
    const login = await request(server).post("/login?id=7");
    let cookie = cookieHeader(login);
    expect((await request(server).get("/whoami").set("Cookie", cookie)).body).toEqual({ user: { id: "7" } });

    const reset = await request(server).post("/reset").set("Cookie", cookie);
    cookie = cookieHeader(reset, cookie);
    expect((await request(server).get("/whoami").set("Cookie", cookie)).body).toEqual({ user: null });
    expect((await request(server).get("/me").set("Cookie", cookie).set("Accept", "application/json")).status).toBe(401);
  });
});
