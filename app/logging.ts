/**
 * Logging: pino, one line per request with method, path, status and duration. Never the session
 * id, a cookie, a password or a request body: the log line is built from an allow-list of fields,
 * and a path carrying a session handle is logged as its route (/account/sessions/:id).
 */
import type { Context, Middleware } from "koa";
import pino, { type Logger } from "pino";
import type { AuditEvent, AuditListener } from "../src/index.js";
import type { LogLevel } from "./config.js";

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return destination ? pino({ level }, destination) : pino({ level });
}

/** Events an operator should look at soon: someone guessing passwords, forging cookies, or a store failing. */
const WARN_EVENTS: ReadonlySet<AuditEvent["event"]> = new Set(["auth.lockout", "session.invalid_signature", "store.error"]);

/**
 * The library's audit events as one pino line each: `{"event":"auth.login","userId":…,"session":…,
 * "ip":…,"reason":…}` with msg "audit". pino stamps its own time, so the event's is left out.
 */
export function auditLogger(logger: Logger): AuditListener {
  return (event) => {
    const { time: _time, ...fields } = event;
    logger[WARN_EVENTS.has(event.event) ? "warn" : "info"](fields, "audit");
  };
}

export function requestLogger(logger: Logger): Middleware {
  return async function logRequest(ctx: Context, next) {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const matched = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
      const path = typeof matched === "string" && matched.includes(":") ? matched : ctx.path;
      const status = ctx.status;
      const level = status >= 500 ? "error" : status >= 400 ? "warn" : "info";
      logger[level]({ method: ctx.method, path, status, ms: Math.round(ms * 10) / 10 }, "request");
    }
  };
}
