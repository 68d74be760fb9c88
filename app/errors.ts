/**
 * The outermost error boundary. Client mistakes (bad JSON, a body over the limit, a 4xx thrown by a
 * middleware) become a short JSON (or HTML) error with their status; anything else is a 500 with a
 * generic message. A stack trace or an internal message never reaches the client.
 */
import type Koa from "koa";
import type { Context, Middleware } from "koa";
import type { Logger } from "pino";
import { noStore, sendHtml, wantsHtml } from "./http.js";
import { errorPage } from "./views/pages.js";

/** Codes of koa-sessionkit's outage errors (503 + Retry-After): the store or the throttle's counters. */
const OUTAGE_CODES: ReadonlySet<string> = new Set(["ERR_SESSIONKIT_STORE_UNAVAILABLE", "ERR_SESSIONKIT_THROTTLE_UNAVAILABLE"]);

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
  code?: string;
  message?: string;
  headers?: Record<string, string>;
}

/** Messages we choose for errors whose own text is not for clients. */
function publicMessage(error: HttpLikeError, status: number): string {
  // The app's own body errors (body.ts) say exactly what is wrong.
  if (error.type === "body.invalid" && error.message) return error.message;
  if (error.type === "entity.too.large" || status === 413) return "Request body too large";
  if (error.type === "entity.parse.failed") return "Malformed request body";
  if (error.type === "request.aborted") return "Request aborted";
  if (status === 403) return "Forbidden";
  if (status === 404) return "Not Found";
  if (status === 405) return "Method Not Allowed";
  if (status === 501) return "Not Implemented";
  if (status === 503) return "Service temporarily unavailable";
  if (status < 500 && error.expose && error.message) return error.message;
  return status < 500 ? "Bad Request" : "Internal Server Error";
}

/**
 * A store or counter store that is down or slow: an outage, not a bug in this code, so one line
 * without a stack (the store's own store.error audit line says which call failed).
 */
function logOutage(logger: Logger, ctx: Context, caught: unknown): void {
  const { code, status, cause } = caught as { code?: string; status?: number; cause?: { message?: unknown } };
  const reason = cause?.message;
  logger.warn({ status, code, method: ctx.method, path: ctx.path, cause: typeof reason === "string" ? reason : undefined }, "request refused: store unavailable");
}

/**
 * session() answers the library's outages itself (a JSON 503) and reports them on the app's "error"
 * event, as Koa does for a failed request; the app is silent, so they are logged here, once each.
 */
export function logOutages(app: Koa, logger: Logger): void {
  app.on("error", (error: HttpLikeError, ctx: Context) => {
    if (OUTAGE_CODES.has(error?.code ?? "")) logOutage(logger, ctx, error);
  });
}

export function errorHandler(logger: Logger): Middleware {
  return async function handleErrors(ctx: Context, next) {
    try {
      await next();
      // A status without a body (no route: 404; the router's 405 with Allow, or 501 for a method it
      // does not know) would go out as Koa's plain-text status message: give it the API's shape.
      // A 5xx a middleware answered in JSON (session()'s 503 while its store is down) is a page for a browser.
      const answered = ctx.body as { error?: unknown } | undefined;
      if (ctx.status >= 500 && typeof answered?.error === "string" && wantsHtml(ctx)) {
        sendHtml(ctx, ctx.status, errorPage(ctx.status, answered.error));
        return;
      }
      if (ctx.status >= 400 && (ctx.body === undefined || ctx.body === null)) {
        const status = ctx.status;
        const message = publicMessage({}, status);
        noStore(ctx);
        if (wantsHtml(ctx)) sendHtml(ctx, status, errorPage(status, status === 404 ? "Page not found" : message));
        else {
          ctx.body = { error: message };
          ctx.status = status;
        }
      }
    } catch (caught) {
      const error = (typeof caught === "object" && caught !== null ? caught : {}) as HttpLikeError;
      const raw = error.status ?? error.statusCode;
      // Only 4xx from the HTTP layer (body parser, ctx.throw) keep their status; everything else is 500.
      const status = typeof raw === "number" && raw >= 400 && raw < 600 ? raw : 500;
      const message = publicMessage(error, status);
      if (OUTAGE_CODES.has(error.code ?? "")) {
        logOutage(logger, ctx, caught);
      } else if (status >= 500) {
        logger.error({ err: caught, method: ctx.method, path: ctx.path }, "request failed");
      } else {
        // The client's mistake: one line, no stack (a stack would say our code failed).
        logger.info({ status, method: ctx.method, path: ctx.path, reason: message }, "request refused");
      }
      // Headers the error asked for (Retry-After, WWW-Authenticate); never anything it set before failing.
      const keep: Record<string, string> = {};
      for (const name of ["retry-after", "www-authenticate", "allow"]) {
        const value = error.headers?.[name] ?? error.headers?.[name.replace(/(^|-)(\w)/g, (_m, dash: string, c: string) => dash + c.toUpperCase())];
        if (typeof value === "string") keep[name] = value;
      }
      ctx.res.getHeaderNames().forEach((name) => ctx.res.removeHeader(name));
      for (const [name, value] of Object.entries(keep)) ctx.set(name, value);
      noStore(ctx);
      if (status === 413) {
        // The client may still be sending a body we refused to read; close rather than drain it.
        ctx.set("Connection", "close");
      }
      if (wantsHtmlSafely(ctx)) sendHtml(ctx, status, errorPage(status, message));
      else {
        ctx.status = status;
        ctx.body = { error: message };
      }
    }
  };
}

/** Negotiation must not throw inside the error boundary (a malformed Accept is still a request). */
function wantsHtmlSafely(ctx: Context): boolean {
  try {
    return wantsHtml(ctx);
  } catch {
    return false;
  }
}
