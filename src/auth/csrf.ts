/**
 * `csrf()`: cross-site request forgery protection for unsafe methods (POST, PUT, PATCH, DELETE), in
 * two layers.
 *
 * 1. Fetch metadata. `Sec-Fetch-Site`, when sent, must be `same-origin` or `none` (typed URL,
 *    bookmark). Without it, `Origin`, when sent, must be this request's origin (`ctx.protocol` +
 *    `ctx.host`, which honour X-Forwarded-Proto/Host only when `app.proxy` is set) or one of `allowedOrigins`. A
 *    request with neither header (curl, server to server) is not a browser and passes this layer.
 * 2. A session-bound token, in the field `_csrf` or the header `x-csrf-token`, for every request
 *    with a body that is not JSON. What an HTML form or a no-cors fetch can send cross-site without a
 *    CORS preflight is urlencoded, multipart or text/plain in any spelling (browsers and body parsers
 *    compare media types case-insensitively, ignoring parameters and whitespace), so the check is
 *    "not JSON" on the parsed media type, never a list of form types. JSON (`application/json`,
 *    `application/*+json`) can't be sent cross-site without a preflight. A request with no body and
 *    no Content-Type needs no token either. This layer covers browsers that send neither header.
 *
 * Install `csrf()` after `session()` and after your body parser, so `ctx.request.body._csrf` is there.
 * (A multipart body your parser does not read must send the token in the `x-csrf-token` header.)
 *
 * The token is a fresh random mask XOR a 32-byte secret kept in the session (`csrfSecret`), so each
 * page gets a different-looking token (no BREACH-style leak through compression). login() drops the
 * anonymous session's data, so a token from before login stops working after it.
 *
 * A visitor with no stored session yet (store mode, not logged in: a login page's first load) gets
 * the secret in a sealed companion cookie (`<key>.csrf`, session/companion.ts) instead, so a page
 * that shows a form writes no store entry: a script loading the login page without cookies no
 * longer adds one entry per request. The companion counts only while nobody is logged in, and
 * login() expires it.
 *
 * @example
 * import { bodyParser } from "@koa/bodyparser";
 * import { csrf, csrfToken } from "koa-sessionkit/auth";
 * app.use(session({ store }, app));
 * app.use(bodyParser());
 * app.use(csrf());
 * router.get("/login", (ctx) => { ctx.body = `<form method="post"><input type="hidden" name="_csrf" value="${csrfToken(ctx)}">…`; });
 */
import type { Context, Middleware, Next } from "koa";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { SessionConfigError } from "../errors.js";
import { sessionControl } from "../session/middleware.js";
import { canSealCompanion, clearCompanion, readCompanion, writeCompanion, type Companion } from "../session/companion.js";
import { refuseNonObjectOptions, refuseUncalledFactory } from "./misuse.js";

/** Options of {@link csrf}. */
export interface CsrfOptions {
  /** Other origins allowed to post here, e.g. ["https://admin.example.com"]. */
  allowedOrigins?: readonly string[];
}

const UNSAFE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** JSON media types: sending one cross-site takes a CORS preflight, so no token is needed. */
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;
const SECRET_FIELD = "csrfSecret";
const SECRET_BYTES = 32;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** The companion cookie's suffix: `<key>.csrf`. */
const COMPANION = "csrf";
/** How long an anonymous visitor's secret (and so a login form) stays good. */
const COMPANION_TTL_MS = 2 * 60 * 60 * 1000;

function sessionSecret(ctx: Context): string | undefined {
  const value = ctx.session?.[SECRET_FIELD];
  return typeof value === "string" && SECRET_PATTERN.test(value) ? value : undefined;
}

/** Store mode with keys and nobody logged in: the secret may live in the companion cookie. */
function anonymousInStore(ctx: Context): boolean {
  const control = sessionControl(ctx);
  return control.store !== undefined && control.meta?.userId === undefined && canSealCompanion(ctx);
}

function companion(ctx: Context): Companion | undefined {
  const found = readCompanion(ctx, COMPANION);
  return found !== undefined && SECRET_PATTERN.test(found.value) ? found : undefined;
}

/** The secret tokens are checked against: the session's, or an anonymous visitor's companion's. */
function currentSecret(ctx: Context): string | undefined {
  return sessionSecret(ctx) ?? (anonymousInStore(ctx) ? companion(ctx)?.value : undefined);
}

/**
 * A CSRF token for this session, to put in a form's `_csrf` field or a fetch's `x-csrf-token` header.
 * Creates the secret on first use: in the session, so a stored session is saved with it; for a
 * visitor with no stored session yet (store mode, nobody logged in), in a sealed `<key>.csrf`
 * cookie, so showing a form creates no store entry.
 */
export function csrfToken(ctx: Context): string {
  // Throws ERR_SESSIONKIT_NOT_INSTALLED without session(): a token with nowhere to keep its secret
  // would be refused on every post.
  sessionControl(ctx);
  let secret = sessionSecret(ctx);
  if (!secret && anonymousInStore(ctx)) {
    const found = companion(ctx);
    secret = found?.value;
    // A form shown again late in its companion's life gets a fresh lifetime (same secret, so tokens
    // already on other tabs stay good): a visitor who reloads the login page after 1 h 50 min must
    // not have the form refused 10 minutes later. Renewed past half-life only, so most loads send no cookie.
    if (found && found.expiresAt - Date.now() < COMPANION_TTL_MS / 2) writeCompanion(ctx, COMPANION, found.value, COMPANION_TTL_MS);
  }
  if (!secret) {
    secret = randomBytes(SECRET_BYTES).toString("base64url");
    // A new session that holds nothing yet would be saved for the secret alone: keep it out of the store.
    const current = ctx.session;
    if (anonymousInStore(ctx) && (!current || (current.isNew && !current.populated))) {
      writeCompanion(ctx, COMPANION, secret, COMPANION_TTL_MS);
    } else {
      if (!ctx.session) ctx.session = {};
      (ctx.session as Record<string, unknown>)[SECRET_FIELD] = secret;
    }
  }
  const secretBytes = Buffer.from(secret, "base64url");
  const mask = randomBytes(SECRET_BYTES);
  const masked = Buffer.alloc(SECRET_BYTES);
  for (let i = 0; i < SECRET_BYTES; i++) masked[i] = (mask[i] as number) ^ (secretBytes[i] as number);
  return Buffer.concat([mask, masked]).toString("base64url");
}

/** Does `token` unmask to this session's secret? Constant time; false for anything malformed. */
export function verifyCsrfToken(ctx: Context, token: unknown): boolean {
  const secret = currentSecret(ctx);
  if (!secret || typeof token !== "string" || token.length !== 86) return false;
  const raw = Buffer.from(token, "base64url");
  if (raw.length !== 2 * SECRET_BYTES) return false;
  const unmasked = Buffer.alloc(SECRET_BYTES);
  for (let i = 0; i < SECRET_BYTES; i++) unmasked[i] = (raw[i] as number) ^ (raw[i + SECRET_BYTES] as number);
  return timingSafeEqual(unmasked, Buffer.from(secret, "base64url"));
}

/** Expire an anonymous visitor's companion secret (login() calls it: a token from before login dies). */
export function forgetAnonymousCsrfSecret(ctx: Context): void {
  clearCompanion(ctx, COMPANION);
}

function normalizeOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SessionConfigError(`csrf({ allowedOrigins }) entries must be origins like "https://app.example.com", got ${value}`);
  }
  if (url.origin === "null") throw new SessionConfigError(`csrf({ allowedOrigins }) entry ${value} has no origin`);
  return url.origin;
}

function submittedToken(ctx: Context): unknown {
  const body = (ctx.request as { body?: unknown }).body;
  if (typeof body === "object" && body !== null && !Array.isArray(body)) {
    const field = (body as Record<string, unknown>)._csrf;
    if (field !== undefined) return field;
  }
  return ctx.get("x-csrf-token") || undefined;
}

/**
 * The origin this request was sent to. Not `ctx.origin`: Koa 3 made that the Origin *header*, which
 * would make every origin equal to itself.
 */
function ownOrigin(ctx: Context): string {
  return `${ctx.protocol}://${ctx.host}`.toLowerCase();
}

/**
 * Does this request need the token? Its media type is parsed the way browsers and body parsers do:
 * the part before ";", trimmed, in lower case. Anything but JSON needs it, including a body without
 * a Content-Type; only a request with neither a body nor a type is exempt.
 */
function needsCsrfToken(ctx: Context): boolean {
  const header = ctx.get("content-type");
  if (header === "") return ctx.get("transfer-encoding") !== "" || Number(ctx.get("content-length") || 0) > 0;
  const mediaType = (header.split(";", 1)[0] as string).trim().toLowerCase();
  return !JSON_MEDIA_TYPE.test(mediaType);
}

let warnedUnparsed = false;

/**
 * A form post refused while nothing parsed its body: most likely csrf() sits before the body parser,
 * so `_csrf` was never seen. Said once per process (a warning, since the client's input triggers it).
 */
function warnIfUnparsed(ctx: Context): void {
  if (warnedUnparsed || (ctx.request as { body?: unknown }).body !== undefined || ctx.get("x-csrf-token")) return;
  warnedUnparsed = true;
  process.emitWarning(
    "csrf() refused a post whose body no parser had read (ctx.request.body is undefined), so its _csrf field was not seen; install csrf() after your body parser (app.use(bodyParser()) first), or send the token in the x-csrf-token header",
    { code: "ERR_SESSIONKIT_CSRF_UNPARSED", type: "KoaSessionkitWarning" },
  );
}

function reject(ctx: Context, error: string): void {
  ctx.status = 403;
  ctx.set("Cache-Control", "no-store");
  ctx.body = { error };
}

/**
 * CSRF protection for POST, PUT, PATCH and DELETE: refuses cross-site requests by their fetch
 * metadata or Origin, and requires the session's token (see {@link csrfToken}) on every non-JSON
 * body. Refusals are 403 JSON. Install after `session()` and your body parser.
 *
 * @throws SessionConfigError when an allowedOrigins entry is not an origin.
 *
 * @example
 * app.use(bodyParser());
 * app.use(csrf({ allowedOrigins: ["https://admin.example.com"] }));
 * // in a page: <input type="hidden" name="_csrf" value="${csrfToken(ctx)}">
 * // from a script: fetch(url, { method: "POST", headers: { "x-csrf-token": token }, body })
 */
export function csrf(options: CsrfOptions = {}): Middleware {
  refuseUncalledFactory("csrf", options, "csrf()");
  refuseNonObjectOptions("csrf", options, '{ allowedOrigins: ["https://admin.example.com"] }');
  const origins: unknown = options.allowedOrigins ?? [];
  if (!Array.isArray(origins)) {
    throw new SessionConfigError(`csrf({ allowedOrigins }) must be an array of origins, e.g. ["https://admin.example.com"], got ${typeof origins}`);
  }
  const allowed = new Set((origins as unknown[]).map((origin) => normalizeOrigin(String(origin))));

  return async function csrfMiddleware(ctx: Context, next: Next): Promise<void> {
    if (!UNSAFE_METHODS.has(ctx.method)) return next();
    const site = ctx.get("sec-fetch-site").toLowerCase();
    const origin = ctx.get("origin");
    const originAllowed = origin !== "" && allowed.has(origin.toLowerCase());
    if (site) {
      if (site !== "same-origin" && site !== "none" && !originAllowed) return reject(ctx, "Cross-site request blocked");
    } else if (origin && origin.toLowerCase() !== ownOrigin(ctx) && !originAllowed) {
      return reject(ctx, "Cross-site request blocked");
    }
    if (needsCsrfToken(ctx) && !verifyCsrfToken(ctx, submittedToken(ctx))) {
      sessionControl(ctx); // without session() there is no secret to check against: say so, not 403
      warnIfUnparsed(ctx);
      return reject(ctx, "Invalid CSRF token");
    }
    await next();
  };
}
