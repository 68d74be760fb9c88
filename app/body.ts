/**
 * Request bodies of the reference app: JSON objects and urlencoded forms, up to 1 MB, compressed or
 * not. Every client mistake is a 4xx that says what is wrong (never a 500, never a stack trace):
 *
 *   corrupt or truncated gzip / deflate / br body   400 "Malformed compressed body …"
 *   another Content-Encoding                        415 "Unsupported content encoding …"
 *   body over 1 MB                                  413
 *   invalid JSON                                    400 "Malformed JSON"
 *   JSON nested past the parser's stack            400 "JSON body is nested too deeply"
 *   valid JSON that is not an object (null, "x", [])  400 "JSON body must be an object … got null"
 *   a "__proto__" key anywhere                      400 "JSON body must not use \"__proto__\" as a key"
 *   a body of any other Content-Type                415 naming the accepted types (acceptedContentTypes,
 *                                                   installed after csrf(): the CSRF decision comes first)
 *
 * JSON arrives from the body parser as text and is parsed here, so the app (not the parser's error
 * text) decides what each failure says.
 *
 * @example
 * app.use(parseBody());
 * app.use(csrf());
 * app.use(acceptedContentTypes());
 */
import { bodyParser } from "@koa/bodyparser";
import type { Context, Middleware } from "koa";

export const BODY_LIMIT = "1mb";
const JSON_TYPE = "application/json";
const FORM_TYPE = "application/x-www-form-urlencoded";
export const ACCEPTED_TYPES = [JSON_TYPE, FORM_TYPE] as const;
const ACCEPTED_ENCODINGS = "gzip, deflate, br or identity";
const WITH_BODY: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** A client mistake in the body: its status and message go to the client as they are. */
export class BodyError extends Error {
  override readonly name = "BodyError";
  readonly type = "body.invalid";
  readonly expose = true;
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function hasStatus(error: unknown): boolean {
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" && status >= 400 && status < 500;
}

/**
 * A compressed body: an error without an HTTP status while reading it comes from the decompressor
 * (zlib or brotli: corrupt or truncated input), so it is the client's, not ours.
 */
function isCompressedBody(ctx: Context): boolean {
  const encoding = ctx.get("content-encoding").trim().toLowerCase();
  return encoding !== "" && encoding !== "identity";
}

function rethrowBodyError(error: unknown, ctx: Context): never {
  // inflation marks an encoding it does not know with status 415 only.
  if ((error as { status?: unknown } | null)?.status === 415) {
    throw new BodyError(415, `Unsupported content encoding; send ${ACCEPTED_ENCODINGS}`);
  }
  if (hasStatus(error)) throw error;
  if (isCompressedBody(ctx)) {
    throw new BodyError(400, `Malformed compressed body: it is not valid ${ctx.get("content-encoding").trim()} or it is truncated`);
  }
  throw error;
}

/** Keys that would reach an object's prototype if the body were ever merged into one. */
function refuseProtoKeys(key: string, value: unknown): unknown {
  if (key === "__proto__") throw new BodyError(400, 'JSON body must not use "__proto__" as a key');
  return value;
}

function parseJsonObject(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, refuseProtoKeys);
  } catch (error) {
    if (error instanceof BodyError) throw error;
    // Valid JSON nested thousands of levels deep overflows the reviver's recursion: say that, not "malformed".
    if (error instanceof RangeError) throw new BodyError(400, "JSON body is nested too deeply");
    throw new BodyError(400, "Malformed JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    const got = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : `a ${typeof parsed}`;
    throw new BodyError(400, `JSON body must be an object such as {"name":"value"}; got ${got}`);
  }
  return parsed as Record<string, unknown>;
}

/** Parse JSON and form bodies (POST, PUT, PATCH) into `ctx.request.body`. */
export function parseBody(): Middleware {
  // JSON is read as text (under the same limit) so parseJsonObject decides what is acceptable.
  const parser = bodyParser({
    enableTypes: ["form", "text"],
    extendTypes: { text: [JSON_TYPE] },
    formLimit: BODY_LIMIT,
    textLimit: BODY_LIMIT,
    onError: rethrowBodyError,
  });
  return async function parseBodyMiddleware(ctx, next) {
    // Content codings are case-insensitive (RFC 9110 §8.4.1); the decompressor only knows lower case.
    const encoding = ctx.req.headers["content-encoding"];
    if (typeof encoding === "string") ctx.req.headers["content-encoding"] = encoding.trim().toLowerCase();
    await parser(ctx, async () => {
      const body = (ctx.request as { body?: unknown }).body;
      if (typeof body === "string") {
        (ctx.request as { body?: unknown }).body = ctx.request.is(JSON_TYPE) ? parseJsonObject(body) : {};
      }
      await next();
    });
  };
}

/** Whether the request carries a body: chunked, or a Content-Length above zero. */
function hasBody(ctx: Context): boolean {
  return ctx.get("transfer-encoding") !== "" || Number(ctx.get("content-length") || 0) > 0;
}

/**
 * 415 for a body of any other type, naming the accepted ones. Install after csrf(): a cross-site
 * text/plain post is refused as a forgery first, never answered as a mere format problem.
 */
export function acceptedContentTypes(): Middleware {
  return async function acceptedContentTypesMiddleware(ctx, next) {
    // A request without a body has nothing to misread, whatever its Content-Type says (`curl -X POST
    // -H "Content-Type: application/json" …/logout` sends neither Content-Length nor a body). It must
    // be skipped here anyway: ctx.request.is() answers null for it, which read as "not accepted".
    if (WITH_BODY.has(ctx.method) && ctx.request.type !== "" && hasBody(ctx) && !ctx.request.is(...ACCEPTED_TYPES)) {
      throw new BodyError(415, `Unsupported content type ${ctx.request.type}; send ${ACCEPTED_TYPES.join(" or ")}`);
    }
    return next();
  };
}
