/**
 * The reference app logs each audit event as one pino line with `event` set: exactly one line per
 * login, failed login, lockout, logout, revoke and forged cookie, at the right level, and no line
 * holds a password, a cookie value or a store key.
 */
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { createApp, type AppHandle } from "../../app/app.js";
import { storeKeyFor } from "../../src/index.js";
import { hashPassword } from "../../src/auth/index.js";
import { COOKIE, startTestApp, type TestApp } from "./helpers.js";

interface Line {
  level: number;
  msg: string;
  event?: string;
  [key: string]: unknown;
}

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  while (opened.length > 0) await opened.pop()?.close();
});

/** The app with a pino logger whose lines land in an array. */
async function loggedApp(): Promise<{ handle: AppHandle; lines: Line[]; raw: string[]; http: () => ReturnType<typeof request> }> {
  const base: TestApp = await startTestApp();
  opened.push(base);
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString());
      done();
    },
  });
  const handle = await createApp(base.config, { logger: pino({ level: "info" }, sink) });
  opened.push(handle);
  const callback = handle.app.callback();
  return {
    handle,
    raw,
    get lines() {
      return raw.map((text) => JSON.parse(text) as Line);
    },
    http: () => request(callback),
  };
}

function audit(lines: Line[]): Array<{ event: string | undefined; level: number }> {
  return lines.filter((line) => line.msg === "audit").map((line) => ({ event: line.event, level: line.level }));
}

/** The Cookie header a browser sends back: the session id cookie and its .sig companion. */
function sessionCookie(res: request.Response): string {
  return (res.headers["set-cookie"] as unknown as string[]).map((line) => line.split(";")[0] as string).join("; ");
}

function cookieValuesOf(cookie: string): string[] {
  return cookie.split("; ").map((pair) => pair.slice(pair.indexOf("=") + 1));
}

const INFO = 30;
const WARN = 40;

describe("reference app audit log", () => {
  it("login, failed login, lockout, logout, revoke and a forged cookie: exactly their lines, no secrets", async () => {
    const app = await loggedApp();
    const password = "correct horse battery staple";
    const user = await app.handle.users.create({ email: "audit@example.com", passwordHash: await hashPassword(password) });
    const secrets: string[] = [password];

    const login = await app.http().post("/login").send({ email: "audit@example.com", password }).expect(200);
    const cookie = sessionCookie(login);
    const [id] = cookieValuesOf(cookie) as [string];
    secrets.push(...cookieValuesOf(cookie));
    await sleep(5);
    expect(audit(app.lines)).toEqual([{ event: "auth.login", level: INFO }]);
    expect(app.lines.find((line) => line.event === "auth.login")).toMatchObject({ userId: user.id, ip: expect.any(String), session: expect.any(String) });

    await app.http().post("/login").send({ email: "audit@example.com", password: "wrong password here" }).expect(401);
    await sleep(5);
    expect(audit(app.lines).slice(1)).toEqual([{ event: "auth.login_failed", level: INFO }]);
    expect(app.lines.find((line) => line.event === "auth.login_failed")).toMatchObject({ userId: user.id, reason: "invalid credentials" });

    // A second login, then revoke it from the first session's list.
    const second = await app.http().post("/login").send({ email: "audit@example.com", password }).expect(200);
    const secondCookie = sessionCookie(second);
    secrets.push(...cookieValuesOf(secondCookie));
    const list = (await app.http().get("/account/sessions").set("Cookie", cookie).set("Accept", "application/json").expect(200)).body as {
      sessions: Array<{ id: string; current: boolean }>;
    };
    const other = list.sessions.find((entry) => !entry.current)?.id as string;
    await app.http().delete(`/account/sessions/${other}`).set("Cookie", cookie).set("Accept", "application/json").expect(200);
    await sleep(5);
    expect(audit(app.lines).slice(2)).toEqual([
      { event: "auth.login", level: INFO },
      { event: "auth.session_revoked", level: INFO },
    ]);
    expect(app.lines.find((line) => line.event === "auth.session_revoked")?.session).toBe(other);

    // A forged cookie: a well-formed id with a signature from no key of ours.
    await app.http().get("/dashboard").set("Accept", "application/json").set("Cookie", `${COOKIE}=${id}; ${COOKIE}.sig=${"x".repeat(43)}`).expect(401);
    await sleep(5);
    expect(audit(app.lines).slice(4)).toEqual([{ event: "session.invalid_signature", level: WARN }]);

    await app.http().post("/logout").set("Cookie", cookie).set("Accept", "application/json").expect(200);
    await sleep(5);
    expect(audit(app.lines).slice(5)).toEqual([{ event: "auth.logout", level: INFO }]);

    // The second login reset the account's count: ten failures lock it, and the tenth logs the lockout once, at warn.
    for (let i = 0; i < 10; i++) await app.http().post("/login").send({ email: "audit@example.com", password: `wrong ${i} password` });
    await app.http().post("/login").send({ email: "audit@example.com", password }).expect(429);
    await sleep(5);
    const tail = audit(app.lines).slice(6);
    expect(tail.filter((line) => line.event === "auth.login_failed")).toHaveLength(10);
    expect(tail.filter((line) => line.event === "auth.lockout")).toEqual([{ event: "auth.lockout", level: WARN }]);
    expect(tail).toHaveLength(11);

    const ids = [id, cookieValuesOf(secondCookie)[0] as string];
    const text = app.raw.join("");
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    for (const secret of [...secrets, ...ids.map((sessionId) => storeKeyFor(sessionId))]) expect(text).not.toContain(secret);
    // pino's own time, and no second "time" field from the event.
    for (const line of app.raw.filter((text) => text.includes('"msg":"audit"'))) expect(line.match(/"time":/g)).toHaveLength(1);
  });
});
