/**
 * Concurrency on one session, for every built-in store, through the real middleware on a real
 * server (50 requests truly in flight on a keep-alive agent):
 *   (a) 50 parallel requests each setting their own key: all 50 survive;
 *   (b) 50 parallel increments of one key: no 5xx, no corruption (one of the written values wins);
 *   (c) a slow request (read, wait 300 ms, modify) racing a logout that completes first: the old
 *       cookie gets a fresh, empty session; nothing is resurrected (also for a forced save() and
 *       for regenerate() as the slow request's write);
 *   (d) regenerate() racing another request on the old cookie: exactly one valid id afterwards.
 * Redis and PostgreSQL run when their services answer (see test/helpers/services.ts).
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { afterAll, describe, expect, it } from "vitest";
import session, { type SessionStore } from "../../src/index.js";
import { requireService } from "../helpers/services.js";
import { throwawayStores } from "../helpers/test-stores.js";

const redisUp = await requireService("redis");
const postgresUp = await requireService("postgres");
const KEYS = [randomBytes(32).toString("base64url")];
const RUN = randomBytes(4).toString("hex");
const PARALLEL = 50;
const SLOW_MS = 300;
const ID = /^[A-Za-z0-9_-]{43}$/;
const { stores, cleanup: cleanupStores } = throwawayStores(`races_${RUN}`, { redis: redisUp, postgres: postgresUp });
const cleanups: (() => Promise<void>)[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: PARALLEL + 4 });
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

afterAll(async () => {
  agent.destroy();
  for (const cleanup of cleanups.reverse()) await cleanup();
  await cleanupStores();
});

interface Reply {
  status: number;
  body: { isNew?: boolean; data?: Record<string, unknown> | null; wrote?: number };
  /** name → value from Set-Cookie ("" when the cookie is being cleared). */
  cookies: Map<string, string>;
}

function send(port: number, path: string, cookie: string | undefined): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, agent, headers: cookie ? { cookie } : {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const cookies = new Map<string, string>();
        for (const line of response.headers["set-cookie"] ?? []) {
          const pair = line.split(";")[0] ?? "";
          const eq = pair.indexOf("=");
          cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
        const text = Buffer.concat(chunks).toString("utf8");
        let body: Reply["body"] = {};
        try {
          body = JSON.parse(text) as Reply["body"];
        } catch {
          body = {};
        }
        resolve({ status: response.statusCode ?? 0, body, cookies });
      });
    });
    request.on("error", reject);
    request.end();
  });
}

/** The Cookie header a browser would send after this response. */
function cookieHeader(reply: Reply): string {
  const id = reply.cookies.get("koa.sess");
  const sig = reply.cookies.get("koa.sess.sig");
  expect(id).toMatch(ID);
  return `koa.sess=${id}; koa.sess.sig=${sig}`;
}

function app(store: SessionStore): Koa {
  const koa = new Koa();
  koa.keys = KEYS;
  koa.silent = true;
  koa.use(session({ store }, koa));
  koa.use(async (ctx) => {
    const current = ctx.session;
    if (!current) throw new Error("no session");
    const query = ctx.query;
    switch (ctx.path) {
      case "/login":
        current.user = "alice";
        current.n = 0;
        break;
      case "/set":
        current[String(query.key)] = true;
        break;
      case "/inc": {
        const n = typeof current.n === "number" ? current.n : 0;
        // Yield once so the 50 requests really interleave between their read and their write.
        await delay(5);
        current.n = n + 1;
        ctx.body = { wrote: n + 1 };
        return;
      }
      case "/slow-write":
        // Read, wait, modify: the classic lost-update / resurrection window.
        void current.toJSON();
        await delay(SLOW_MS);
        current.cart = "full";
        break;
      case "/slow-save":
        await delay(SLOW_MS);
        await current.save();
        break;
      case "/slow-regenerate":
        await delay(SLOW_MS);
        await current.regenerate();
        break;
      case "/regenerate":
        await delay(Number(query.wait ?? 0));
        await current.regenerate();
        break;
      case "/late-write":
        await delay(Number(query.wait ?? 0));
        current.late = true;
        break;
      case "/logout":
        ctx.session = null;
        ctx.body = { data: null };
        return;
    }
    ctx.body = { isNew: ctx.session?.isNew, data: ctx.session?.toJSON() ?? null };
  });
  return koa;
}

async function serve(store: SessionStore): Promise<number> {
  const server = http.createServer(app(store).callback());
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

for (const { name, up, make } of stores) {
  describe.skipIf(!up)(`races on one session: ${name}`, () => {
    let port = 0;
    const ready = (async () => {
      if (!up) return;
      port = await serve(make(name.toLowerCase().replace("store", "")));
    })();

    async function login(): Promise<string> {
      await ready;
      const reply = await send(port, "/login", undefined);
      expect(reply.status).toBe(200);
      return cookieHeader(reply);
    }

    const dump = (cookie: string) => send(port, "/dump", cookie);

    it(`(a) ${PARALLEL} parallel requests each setting its own key: all ${PARALLEL} present`, async () => {
      const cookie = await login();
      const replies = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => send(port, `/set?key=k${i}`, cookie)));
      expect(replies.map((reply) => reply.status).filter((status) => status !== 200)).toEqual([]);
      const after = await dump(cookie);
      expect(after.body.isNew).toBe(false);
      const data = after.body.data ?? {};
      const missing = Array.from({ length: PARALLEL }, (_, i) => `k${i}`).filter((key) => data[key] !== true);
      expect(missing).toEqual([]);
      expect(data.user).toBe("alice");
    });

    it(`(b) ${PARALLEL} parallel increments of one key: no 5xx, the final value is one that was written`, async () => {
      const cookie = await login();
      const replies = await Promise.all(Array.from({ length: PARALLEL }, () => send(port, "/inc", cookie)));
      expect(replies.filter((reply) => reply.status >= 500)).toEqual([]);
      expect(replies.every((reply) => reply.status === 200)).toBe(true);
      const written = new Set(replies.map((reply) => reply.body.wrote));
      const after = await dump(cookie);
      const n = after.body.data?.n;
      expect(Number.isInteger(n)).toBe(true);
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(PARALLEL);
      expect(written.has(n as number)).toBe(true);
      // The rest of the session is intact.
      expect(after.body.data?.user).toBe("alice");
    });

    for (const slowPath of ["/slow-write", "/slow-save", "/slow-regenerate"]) {
      it(`(c) a slow request (${slowPath.slice(1)}) racing a logout that completes first: no resurrection`, async () => {
        const cookie = await login();
        const slow = send(port, slowPath, cookie);
        await delay(50);
        const logout = await send(port, "/logout", cookie);
        expect(logout.status).toBe(200);
        expect(logout.cookies.get("koa.sess")).toBe("");
        const late = await slow;
        expect(late.status).toBeLessThan(500);
        // The slow response hands back no live cookie: none, a cleared one, or a new empty session.
        const issued = late.cookies.get("koa.sess");
        if (issued) {
          const viaIssued = await dump(`koa.sess=${issued}; koa.sess.sig=${late.cookies.get("koa.sess.sig")}`);
          expect(viaIssued.body).toEqual({ isNew: true, data: {} });
        }
        // The old cookie is dead: a fresh, empty session.
        expect((await dump(cookie)).body).toEqual({ isNew: true, data: {} });
      });
    }

    for (const order of ["regenerate first", "other request first"] as const) {
      it(`(d) regenerate() racing another request on the old cookie (${order}): exactly one valid id`, async () => {
        const cookie = await login();
        const oldId = /koa\.sess=([^;]+)/.exec(cookie)?.[1];
        const [regenerateWait, otherWait] = order === "regenerate first" ? [0, 150] : [150, 0];
        const [regenerated, other] = await Promise.all([
          send(port, `/regenerate?wait=${regenerateWait}`, cookie),
          send(port, `/late-write?wait=${otherWait}`, cookie),
        ]);
        expect(regenerated.status).toBe(200);
        expect(other.status).toBeLessThan(500);
        const newCookie = cookieHeader(regenerated);
        expect(regenerated.cookies.get("koa.sess")).not.toBe(oldId);
        // The other request never hands out a third id. It may re-send the old id when it finished
        // before regenerate ran; that id must be dead now (checked next).
        const otherId = other.cookies.get("koa.sess");
        expect([undefined, "", oldId, regenerated.cookies.get("koa.sess")]).toContain(otherId);
        // The old id is dead, the new one carries the session.
        expect((await dump(cookie)).body).toEqual({ isNew: true, data: {} });
        const current = await dump(newCookie);
        expect(current.body.isNew).toBe(false);
        expect(current.body.data?.user).toBe("alice");
      });
    }
  });
}
