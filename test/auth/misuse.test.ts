/**
 * Wiring mistakes a newcomer makes with the auth helpers (found by following docs/auth.md from the
 * packed tarball): each is an error naming the package, the cause and the call that was meant,
 * instead of a bare TypeError, a silent 404 or a Retry-After: NaN.
 */
import { bodyParser } from "@koa/bodyparser";
import Koa, { type Context, type Middleware } from "koa";
import request from "supertest";
import { describe, expect, it } from "vitest";
import session, { MemoryStore, SessionConfigError } from "../../src/index.js";
import { auth, csrf, csrfToken, loginThrottle, requireAuth, requireRecentAuth, requireRole, tooManyAttempts } from "../../src/auth/index.js";
import { PostgresStore } from "../../src/stores/postgres.js";
import { RedisStore } from "../../src/stores/redis.js";
import { KEYS } from "./helpers.js";

function thrown(run: () => unknown): SessionConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SessionConfigError);
    expect((error as Error).message).toMatch(/^koa-sessionkit: /);
    return error as SessionConfigError;
  }
  throw new Error("expected a SessionConfigError");
}

/** An app with session() unless `withSession` is false, then `middleware`; records Koa's errors. */
function appWith(middleware: Middleware[], withSession = true) {
  const app = new Koa();
  app.keys = KEYS;
  app.silent = true;
  const errors: Error[] = [];
  app.on("error", (error: Error) => errors.push(error));
  if (withSession) app.use(session({ store: new MemoryStore() }, app));
  for (const m of middleware) app.use(m);
  app.use((ctx) => (ctx.body = { ok: true }));
  return { server: app.callback(), errors };
}

describe("auth helpers refuse wrong wiring with a message that names the fix", () => {
  it("options of the wrong shape are start-up errors (ERR_SESSIONKIT_CONFIG)", () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => requireRole(5 as unknown as string), /requireRole\("admin"\), got 5/],
      [() => requireAuth("/signin" as unknown as object), /loginPath: "\/signin"/],
      [() => csrf({ allowedOrigins: "https://a.example" as unknown as string[] }), /must be an array of origins/],
      [() => auth("30m" as unknown as object), /options object/],
      [() => loginThrottle("redis://x" as unknown as object), /options object/],
      [() => new RedisStore({ client: "redis://127.0.0.1:6379" as never }), /pass it as \{ url \}/],
      [() => new PostgresStore({ pool: "postgres://127.0.0.1/x" as never }), /pass it as \{ connectionString \}/],
    ];
    for (const [run, message] of cases) {
      const error = thrown(run);
      expect(error.code).toBe("ERR_SESSIONKIT_CONFIG");
      expect(error.message).toMatch(message);
    }
  });

  it("a factory passed to app.use() uncalled answers 500 with ERR_SESSIONKIT_MISUSE saying how to call it", async () => {
    const factories: Array<[unknown, string]> = [
      [requireAuth, "app.use(requireAuth())"],
      [requireRole, 'app.use(requireRole("admin"))'],
      [requireRecentAuth, "app.use(requireRecentAuth(5 * 60_000))"],
      [csrf, "app.use(csrf())"],
      [auth, "app.use(auth())"],
    ];
    for (const [factory, usage] of factories) {
      const { server, errors } = appWith([factory as Middleware]);
      expect((await request(server).get("/")).status).toBe(500);
      expect(errors[0]).toMatchObject({ code: "ERR_SESSIONKIT_MISUSE" });
      expect(errors[0]?.message).toContain(usage);
    }
  });

  it("auth() before session() is refused instead of silently skipping the idle timeout", async () => {
    const app = new Koa();
    app.keys = KEYS;
    app.silent = true;
    const errors: Error[] = [];
    app.on("error", (error: Error) => errors.push(error));
    app.use(auth());
    app.use(session({ store: new MemoryStore() }, app));
    expect((await request(app.callback()).get("/")).status).toBe(500);
    expect(errors[0]).toMatchObject({ code: "ERR_SESSIONKIT_MISUSE" });
    expect(errors[0]?.message).toContain("before app.use(auth())");
  });

  it("tooManyAttempts without a number (an un-awaited check) names the missing await, not Retry-After: NaN", async () => {
    const throttle = loginThrottle();
    const { server, errors } = appWith([
      async (ctx: Context) => {
        const gate = throttle.check(ctx, "a@example.com") as unknown as { allowed: boolean; retryAfterSeconds: number };
        if (!gate.allowed) return tooManyAttempts(ctx, gate.retryAfterSeconds);
      },
    ]);
    const res = await request(server).post("/").send({});
    expect(res.status).toBe(500);
    expect(res.headers["retry-after"]).toBeUndefined();
    expect(errors[0]).toMatchObject({ code: "ERR_SESSIONKIT_MISUSE" });
    expect(errors[0]?.message).toContain("await throttle.check");
  });

  it("csrfToken and a token check without session() say session() is missing, instead of tokens that never verify", async () => {
    const { server, errors } = appWith([csrf(), (ctx: Context) => void csrfToken(ctx)], false);
    expect((await request(server).get("/")).status).toBe(500);
    expect((await request(server).post("/").type("form").send({ _csrf: "x" })).status).toBe(500);
    expect(errors.map((error) => (error as SessionConfigError).code)).toEqual(["ERR_SESSIONKIT_NOT_INSTALLED", "ERR_SESSIONKIT_NOT_INSTALLED"]);
  });

  it("csrf() before the body parser: the form is refused (403) and the process is told why, once", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => {
      if ((warning as Error & { code?: string }).code === "ERR_SESSIONKIT_CSRF_UNPARSED") warnings.push(warning);
    };
    process.on("warning", onWarning);
    try {
      const { server } = appWith([csrf(), bodyParser()]);
      const agent = request.agent(server);
      for (let i = 0; i < 2; i++) expect((await agent.post("/").type("form").send({ _csrf: "whatever" })).status).toBe(403);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.message).toContain("after your body parser");
    } finally {
      process.off("warning", onWarning);
    }
  });
});
