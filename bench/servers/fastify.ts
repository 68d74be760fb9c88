/**
 * Fastify cases: bare Fastify 5 and @fastify/secure-session (libsodium secretbox cookies), the
 * reference pair for the encrypted-cookie read: koa-sessionkit's cookie-read / koa-bare is compared
 * with secure-session-read / fastify-bare from the same run. Same routes as the Koa servers.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import { SESSION_MAX_AGE_MS, type CaseDef } from "../lib/cases.js";
import { statsNow } from "./counting.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export async function fastifyHandler(def: CaseDef): Promise<Handler> {
  const { default: fastify } = await import("fastify");
  let handler: Handler | undefined;
  // serverFactory hands us Fastify's request handler; server.ts owns the listening server.
  const app = fastify({
    logger: false,
    serverFactory: (routing) => {
      handler = routing;
      return createServer(routing);
    },
  });
  app.get("/__stats", async () => statsNow());
  if (def.library === "fastify-secure-session") {
    const { default: secureSession } = await import("@fastify/secure-session");
    // The README's pregenerated-key setup (a 32-byte key), cookie on "/", one day like every case.
    await app.register(secureSession, {
      cookieName: "koa.sess",
      key: randomBytes(32),
      expiry: SESSION_MAX_AGE_MS / 1000,
      cookie: { path: "/", httpOnly: true },
    });
  }
  app.post("/login", async (request) => {
    if (def.library === "fastify-secure-session") request.session.set("userId", "u1");
    return "ok";
  });
  app.get("/", async (request) => {
    if (def.library !== "fastify-secure-session") return "u1";
    if (def.operation === "write") {
      const count = Number(request.session.get("count") ?? 0) + 1;
      request.session.set("count", count);
      return String(count);
    }
    const userId = request.session.get("userId");
    return typeof userId === "string" ? userId : "anonymous";
  });
  await app.ready();
  if (!handler) throw new Error("fastify did not call serverFactory");
  return handler;
}

declare module "@fastify/secure-session" {
  interface SessionData {
    userId: string;
    count: number;
  }
}
