import { randomBytes } from "node:crypto";
import request from "supertest";
import { beforeAll, describe, expect, it } from "vitest";
import { CountingStore } from "../helpers/counting-store.js";
import { Client, ID_RE, KEY1, cookie, makeApp, sign } from "./_util.js";

const store = new CountingStore();
const app = makeApp({ store }, (ctx) => {
  const before = { isNew: ctx.session!.isNew, length: ctx.session!.length, user: ctx.session!.user ?? null };
  if (ctx.path === "/login") ctx.session!.user = "alice";
  ctx.body = before;
});
const handler = app.callback();
let validId = "";

beforeAll(async () => {
  const client = new Client(handler);
  await client.get("/login");
  validId = client.jar.get("koa.sess") as string;
  expect(validId).toMatch(ID_RE);
});

const otherId = () => randomBytes(32).toString("base64url");

const cases: Array<[string, () => string]> = [
  ["random garbage", () => `koa.sess=${randomBytes(40).toString("hex")}; koa.sess.sig=${randomBytes(10).toString("hex")}`],
  ["5 kB value with its valid signature", () => { const v = "A".repeat(5000); return `koa.sess=${v}; koa.sess.sig=${sign(v)}`; }],
  ["5 kB signature", () => `koa.sess=${validId}; koa.sess.sig=${"A".repeat(5000)}`],
  ["bad base64 value", () => `koa.sess=%%%***!!!; koa.sess.sig=${sign("%%%***!!!")}`],
  ["bad base64 signature", () => `koa.sess=${validId}; koa.sess.sig=${"*".repeat(43)}`],
  ["43-char signature that decodes short", () => `koa.sess=${validId}; koa.sess.sig=${"=".repeat(43)}`],
  ["wrong signature", () => `koa.sess=${validId}; koa.sess.sig=${randomBytes(32).toString("base64url")}`],
  ["signature for another value", () => `koa.sess=${validId}; koa.sess.sig=${sign(otherId())}`],
  ["signature for another cookie name", () => `koa.sess=${validId}; koa.sess.sig=${sign(validId, KEY1, "other")}`],
  ["signature truncated", () => `koa.sess=${validId}; koa.sess.sig=${sign(validId).slice(0, 42)}`],
  ["signature with one char flipped", () => { const s = sign(validId); return `koa.sess=${validId}; koa.sess.sig=${(s[0] === "A" ? "B" : "A") + s.slice(1)}`; }],
  ["value with one char flipped", () => { const v = (validId[0] === "A" ? "B" : "A") + validId.slice(1); return `koa.sess=${v}; koa.sess.sig=${sign(validId)}`; }],
  ["value without signature", () => `koa.sess=${validId}`],
  ["signature without value", () => `koa.sess.sig=${sign(validId)}`],
  ["duplicate cookies, forged first", () => `koa.sess=${otherId()}; koa.sess=${validId}; koa.sess.sig=${sign(validId)}`],
  ["duplicate signatures, forged first", () => `koa.sess=${validId}; koa.sess.sig=${sign(otherId())}; koa.sess.sig=${sign(validId)}`],
  ["empty values", () => "koa.sess=; koa.sess.sig="],
  ["quoted value", () => `koa.sess="${validId}"; koa.sess.sig=${sign(`"${validId}"`)}`],
  ["bad percent-encoding", () => `koa.sess=%E0%A4%A; koa.sess.sig=%ZZ`],
  ["non-ASCII bytes", () => `koa.sess=ünïcödé-${"x".repeat(30)}; koa.sess.sig=${sign("x")}`],
  ["id with whitespace", () => `koa.sess= ${validId} ; koa.sess.sig=${sign(` ${validId} `)}`],
  ["a JSON cookie (koa-session cookie mode) signed with SHA-256", () => { const v = Buffer.from('{"user":"admin"}').toString("base64"); return `koa.sess=${v}; koa.sess.sig=${sign(v)}`; }],
];

describe("malformed, oversized and tampered cookies", () => {
  for (const [name, header] of cases) {
    it(`${name}: 200, fresh anonymous session, no store lookup`, async () => {
      store.resetCounts();
      const line = header();
      const r = await request(handler).get("/").set("Cookie", line);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ isNew: true, length: 0, user: null });
      expect(store.calls.get).toBe(0);
      expect(store.writes).toBe(0);
      // Logging in from there issues a brand-new id, never one the client supplied.
      const login = await request(handler).get("/login").set("Cookie", line);
      expect(login.status).toBe(200);
      const issued = cookie(login)?.value as string;
      expect(issued).toMatch(ID_RE);
      expect(issued).not.toBe(validId);
      expect(line).not.toContain(issued);
      expect(store.calls.get).toBe(0);
    });
  }

  it("the genuine cookie still works (control)", async () => {
    store.resetCounts();
    const r = await request(handler).get("/").set("Cookie", `koa.sess=${validId}; koa.sess.sig=${sign(validId)}`);
    expect(r.body).toEqual({ isNew: false, length: 1, user: "alice" });
    expect(store.calls.get).toBe(1);
  });

  it("a tampered cookie is cleared in the browser even if the handler ignores the session", async () => {
    const r = await request(makeApp({}, (ctx) => { ctx.body = "hi"; }).callback())
      .get("/")
      .set("Cookie", `koa.sess=${validId}; koa.sess.sig=${sign(otherId())}`);
    expect(r.status).toBe(200);
    expect(cookie(r)?.value).toBe("");
    expect(Date.parse(String(cookie(r)?.attrs.expires))).toBe(0);
  });

  it("an oversized Cookie header (just under Node's limit) is still a 200", async () => {
    store.resetCounts();
    const line = `junk=${"j".repeat(12_000)}; koa.sess=${validId}; koa.sess.sig=${sign(validId)}`;
    const r = await request(handler).get("/").set("Cookie", line);
    expect(r.status).toBe(200);
    expect(r.body.user).toBe("alice");
  });
});
