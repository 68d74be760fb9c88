/**
 * Small request/response helpers shared by the routes: content negotiation between the JSON API and
 * the HTML pages, and the no-store header for anything personal.
 */
import type { Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Context } from "koa";

/** A form post from a browser: answer with pages and 303 redirects instead of JSON. */
function isFormPost(ctx: Context): boolean {
  return Boolean(ctx.request.is("application/x-www-form-urlencoded"));
}

/**
 * HTML for browsers, JSON for API clients:
 * - a JSON body means JSON;
 * - an Accept header that names JSON or HTML decides (a browser lists text/html first, and a form
 *   post with `Accept: application/json` asked for JSON, errors included);
 * - otherwise a form body means HTML, and any other Accept decides (`*\/*` counts as JSON);
 * - with no Accept at all, GET pages are HTML and everything else JSON.
 */
export function wantsHtml(ctx: Context): boolean {
  if (ctx.request.is("application/json")) return false;
  const accept = ctx.get("Accept");
  if (/json|html/i.test(accept)) return ctx.accepts("json", "html") === "html";
  if (isFormPost(ctx)) return true;
  if (accept) return ctx.accepts("json", "html") === "html";
  return ctx.method === "GET" || ctx.method === "HEAD";
}

/** Personal pages and API answers must never be stored by a browser or a shared cache. */
export function noStore(ctx: Context): void {
  ctx.set("Cache-Control", "no-store");
}

export function sendJson(ctx: Context, status: number, body: unknown): void {
  ctx.status = status;
  ctx.body = body;
}

export function sendHtml(ctx: Context, status: number, page: string): void {
  ctx.status = status;
  ctx.type = "text/html; charset=utf-8";
  ctx.body = page;
}

/** 303 See Other: the browser follows with a GET, so a reload never re-posts the form. */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
  ctx.status = 303;
}

/** A string field of a parsed body, or undefined when absent or not a string. */
export function stringField(body: unknown, name: string): string | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === "string" ? value : undefined;
}

/** What Node's HTTP parser refused, by its error code: the status a client should see. */
const CLIENT_ERRORS: Readonly<Record<string, [number, string]>> = {
  HPE_HEADER_OVERFLOW: [431, "Request Header Fields Too Large"],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout"],
};

/**
 * Requests Node's parser refuses before Koa sees them (a bad chunk size, two Content-Lengths, headers
 * over 16 KB, a request that never finished its headers) get Node's status with an empty body by
 * default; answer them in the API's shape, `{"error":…}`, and close the connection, as Node does.
 */
export function answerClientErrors(server: Server): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset socket, or a response whose headers already went out: nothing more can be said on it.
    const response = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (error.code === "ECONNRESET" || !socket.writable || response?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, text] = CLIENT_ERRORS[error.code ?? ""] ?? [400, "Bad Request"];
    const body = JSON.stringify({ error: text });
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
