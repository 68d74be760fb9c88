/**
 * The audit event stream: each event's name and fields, the session handle matching listSessions,
 * no secret in any event, and listeners that throw, reject or never settle isolated from requests.
 */
import { setTimeout as sleep } from "node:timers/promises";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { AUDIT_EVENTS, MemoryStore, sessionHandle, storeKeyFor, type AuditEvent, type StoredSession } from "../../src/index.js";
import { auditEvent, loginThrottle } from "../../src/auth/index.js";
import { buildApp, cookieHeader } from "./helpers.js";

/** Events are delivered on a later turn of the event loop. */
async function settle(): Promise<void> {
  await sleep(5);
}

function recorder(): { events: AuditEvent[]; onEvent: (event: AuditEvent) => void; names(): string[] } {
  const events: AuditEvent[] = [];
  return { events, onEvent: (event) => events.push(event), names: () => events.map((event) => event.event) };
}

/** The session id inside a Cookie header (our cookie is "koa.sess=<id>.<sig>" by default). */
function cookieValues(cookie: string): string[] {
  return cookie.split("; ").map((pair) => pair.slice(pair.indexOf("=") + 1));
}

describe("audit events", () => {
  it("lists exactly the documented names", () => {
    expect(AUDIT_EVENTS).toEqual([
      "auth.login",
      "auth.login_failed",
      "auth.lockout",
      "auth.logout",
      "auth.logout_everywhere",
      "auth.session_revoked",
      "auth.password_changed",
      "auth.account_disabled",
      "session.invalid_signature",
      "session.expired",
      "store.error",
    ]);
  });

  it("login, list/revoke, logout everywhere and logout: name, time, user, handle and ip; never a cookie or store key", async () => {
    const log = recorder();
    const { server, store } = buildApp({ session: { onEvent: log.onEvent } });
    const login = await request(server).post("/login?id=42");
    const cookie = cookieHeader(login);
    const other = cookieHeader(await request(server).post("/login?id=42"));
    await settle();
    expect(log.names()).toEqual(["auth.login", "auth.login"]);
    const first = log.events[0] as AuditEvent;
    expect(first.userId).toBe("42");
    expect(new Date(first.time).toISOString()).toBe(first.time);
    expect(first.ip).toMatch(/127\.0\.0\.1|::1/);
    // The handle is the one listSessions shows, so an operator can match a log line to a session.
    const listed = (await request(server).get("/sessions").set("Cookie", cookie)).body as Array<{ id: string; current: boolean }>;
    expect(listed.find((entry) => entry.current)?.id).toBe(first.session);
    const otherHandle = listed.find((entry) => !entry.current)?.id as string;

    await request(server).post(`/revoke?handle=${otherHandle}`).set("Cookie", cookie).expect(200);
    await request(server).post("/login?id=42"); // a third session, for logout everywhere
    await request(server).post("/logout-everywhere?except=1").set("Cookie", cookie).expect(200);
    await request(server).post("/logout").set("Cookie", cookie).expect(204);
    await settle();
    expect(log.names().slice(2)).toEqual(["auth.session_revoked", "auth.login", "auth.logout_everywhere", "auth.logout"]);
    expect(log.events[2]).toMatchObject({ userId: "42", session: otherHandle });
    expect(log.events[4]).toMatchObject({ userId: "42", session: first.session, reason: "1 session ended, this one kept" });
    expect(log.events[5]).toMatchObject({ userId: "42", session: first.session });

    const text = JSON.stringify(log.events);
    for (const value of [...cookieValues(cookie), ...cookieValues(other)]) expect(text).not.toContain(value.split(".")[0]);
    const id = (cookieValues(cookie)[0] as string).split(".")[0] as string;
    expect(text).not.toContain(storeKeyFor(id));
    expect(store).toBeDefined();
  });

  it("auth({ onEvent }) subscribes too, and auditEvent() adds the app's own events to the same stream", async () => {
    const log = recorder();
    const { server } = buildApp({
      auth: { onEvent: log.onEvent },
      extra: {
        "POST /password": (ctx) => {
          auditEvent(ctx, "auth.password_changed", { userId: "42" });
          ctx.status = 204;
        },
      },
    });
    await request(server).post("/login?id=42").expect(200);
    await request(server).post("/password").expect(204);
    await settle();
    expect(log.names()).toEqual(["auth.login", "auth.password_changed"]);
  });

  it("failed logins, then the lockout at the limit, through the throttle", async () => {
    const log = recorder();
    const throttle = loginThrottle({ accountLimit: 3, ipLimit: 50 });
    const { server } = buildApp({
      session: { onEvent: log.onEvent },
      extra: {
        "POST /wrong": async (ctx) => {
          const result = await throttle.fail(ctx, "Someone@Example.com", { userId: "7" });
          ctx.body = result;
        },
      },
    });
    for (let i = 0; i < 4; i++) await request(server).post("/wrong").expect(200);
    await settle();
    expect(log.names()).toEqual(["auth.login_failed", "auth.login_failed", "auth.login_failed", "auth.lockout", "auth.login_failed"]);
    expect(log.events[0]).toMatchObject({ userId: "7", reason: "invalid credentials" });
    expect(log.events[3]).toMatchObject({ userId: "7", reason: "account: too many failed logins" });
    expect(JSON.stringify(log.events)).not.toContain("xample");
  });

  it("a forged or tampered cookie is session.invalid_signature; a missing one is no event", async () => {
    const log = recorder();
    const { server } = buildApp({ session: { onEvent: log.onEvent } });
    const cookie = cookieHeader(await request(server).post("/login?id=1"));
    await request(server).get("/whoami");
    const [name, value] = cookie.split("=") as [string, string];
    const tampered = `${name}=${value.slice(0, -2)}${value.endsWith("AA") ? "BB" : "AA"}`;
    await request(server).get("/whoami").set("Cookie", tampered);
    await request(server).get("/whoami").set("Cookie", `${name}=not-even-an-id`);
    await settle();
    expect(log.names()).toEqual(["auth.login", "session.invalid_signature", "session.invalid_signature"]);
    expect(log.events[1]?.reason).toBe("id cookie failed verification");
    expect(JSON.stringify(log.events)).not.toContain(value.slice(0, 20));
  });

  it("an unsigned cookie that is not shaped like an id (signed: false) is no session.invalid_signature: nothing was verified", async () => {
    const log = recorder();
    const missed: unknown[] = [];
    const { app, server } = buildApp({ session: { signed: false, onEvent: log.onEvent } });
    app.on("session:missed", (event: { key: unknown }) => missed.push(event.key));
    const response = await request(server).get("/whoami").set("Cookie", "koa.sess=not-even-an-id");
    await settle();
    expect(log.names()).toEqual([]);
    // koa-session's event for "the client sent a session we don't have", and the stray cookie is cleared.
    expect(missed).toEqual([undefined]);
    expect(String(response.headers["set-cookie"])).toMatch(/koa\.sess=;/);
  });

  it("a sealed cookie that does not open, and one that expired, in cookie mode", async () => {
    const log = recorder();
    const { server } = buildApp({ store: null, session: { mode: "cookie", maxAge: 1000, onEvent: log.onEvent } });
    const cookie = cookieHeader(await request(server).post("/cart"));
    const [name, value] = cookie.split("=") as [string, string];
    await request(server).get("/cart").set("Cookie", `${name}=${value.slice(0, -4)}AAAA`);
    await sleep(1100);
    await request(server).get("/cart").set("Cookie", cookie);
    await settle();
    expect(log.names()).toEqual(["session.invalid_signature", "session.expired"]);
    expect(log.events[0]?.session).toBeUndefined();
  });

  it("an expired store session and an idle timeout are session.expired with the user", async () => {
    const log = recorder();
    const { server } = buildApp({ session: { maxAge: 1000, onEvent: log.onEvent }, auth: { idleTimeout: 600, touchInterval: 50 } });
    const cookie = cookieHeader(await request(server).post("/login?id=9"));
    await sleep(700);
    await request(server).get("/whoami").set("Cookie", cookie);
    const again = cookieHeader(await request(server).post("/login?id=9"));
    await sleep(1100);
    await request(server).get("/whoami").set("Cookie", again);
    await settle();
    expect(log.names()).toEqual(["auth.login", "session.expired", "auth.login", "session.expired"]);
    expect(log.events[1]).toMatchObject({ userId: "9", reason: "idle timeout" });
    expect(log.events[3]).toMatchObject({ userId: "9", reason: "session expired" });
    expect(log.events[3]?.session).toBe(log.events[2]?.session);
  });

  it("a failing store is store.error with the operation, and the request still gets its 503", async () => {
    const log = recorder();
    class BrokenStore extends MemoryStore {
      override get(): StoredSession | null {
        throw new Error("connection reset");
      }
    }
    const { app, server } = buildApp({ store: new BrokenStore(), session: { onEvent: log.onEvent } });
    app.silent = true;
    // The cookie must verify to reach the store: take a real one from a working app with the same keys.
    const good = cookieHeader(await request(buildApp().server).post("/login"));
    const res = await request(server).get("/whoami").set("Cookie", good);
    expect(res.status).toBe(503);
    await settle();
    expect(log.names()).toEqual(["store.error"]);
    expect(log.events[0]?.reason).toBe("get failed");
  });

  it("a listener that throws, rejects or never settles changes nothing for the request", async () => {
    const seen: string[] = [];
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    try {
      const { app, server } = buildApp({
        session: {
          onEvent: () => {
            throw new Error("listener bug");
          },
        },
        auth: { onEvent: () => new Promise(() => {}) },
      });
      const { addAuditListener } = await import("../../src/index.js");
      addAuditListener(app, async (event) => {
        seen.push(event.event);
        throw new Error("async listener bug");
      });
      const res = await request(server).post("/login?id=5");
      expect(res.status).toBe(200);
      expect(res.body.ok).toBe(true);
      await request(server).post("/logout").set("Cookie", cookieHeader(res)).expect(204);
      await settle();
      expect(seen).toEqual(["auth.login", "auth.logout"]);
      expect(rejections).toEqual([]);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
  });

  it("refuses an onEvent that is not a function, at start-up", () => {
    expect(() => buildApp({ session: { onEvent: "log" as never } })).toThrow(/onEvent must be a function/);
  });

  it("sessionHandle is the handle listSessions uses, and never the store key itself", () => {
    const key = storeKeyFor("x".repeat(43));
    expect(sessionHandle(key)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(key).not.toContain(sessionHandle(key));
  });
});
