/**
 * The reference app: an HTML login page and a JSON API on koa-sessionkit, built in-process so tests
 * can drive it over HTTP with a temporary DATA_DIR.
 *
 * Middleware, outermost first:
 *   /healthz + /readyz (no log, no session) → request log → security headers → error boundary
 *   → /style.css, /favicon.ico → body parser (1 MB) → session() → auth() (timeouts) → csrf()
 *   → accepted content types (415) → routes
 *
 * @example
 * const { app, close } = await createApp(loadConfig(process.env));
 * const server = app.listen(3000);
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import Koa from "koa";
import type { Logger } from "pino";
import session, { type SessionStore } from "../src/index.js";
import { auth, csrf, hashPassword, loginThrottle } from "../src/auth/index.js";
import { acceptedContentTypes, parseBody } from "./body.js";
import type { AppConfig } from "./config.js";
import { errorHandler, logOutages } from "./errors.js";
import { healthRoutes, type HealthState } from "./health.js";
import { sendHtml, wantsHtml } from "./http.js";
import { auditLogger, createLogger, requestLogger } from "./logging.js";
import { openResources } from "./resources.js";
import { accountRoutes } from "./routes/account.js";
import { adminRoutes } from "./routes/admin.js";
import type { RouteDeps } from "./routes/deps.js";
import { loginRoutes } from "./routes/login.js";
import { DuplicateEmailError, type UserRepository } from "./users/repository.js";
import { errorPage } from "./views/pages.js";

export { BODY_LIMIT } from "./body.js";
export const DEMO_EMAIL = "demo@example.com";
/** Looked up by /readyz; no session or user ever has this key or id. */
const READINESS_PROBE_KEY = "readyz-probe";

export interface CreateAppOptions {
  /** Use this logger instead of one built from config.logLevel (tests pass a silent one). */
  logger?: Logger;
  /** Namespace of the login throttle's counters in Redis/PostgreSQL. Default "app:login:". */
  throttleKeyPrefix?: string;
}

export interface AppHandle {
  app: Koa;
  users: UserRepository;
  logger: Logger;
  /** Set `health.shuttingDown` when a shutdown begins: /readyz then answers 503. */
  health: HealthState;
  /** Set when this start created the demo user; the caller prints it once. */
  demoUser: { email: string; password: string } | undefined;
  /** Close the stores and databases (after the HTTP server stopped accepting). */
  close(): Promise<void>;
}

/** The app's two static files, read once: a stylesheet and a 178-byte icon (browsers ask for it on every page). */
const STATIC_FILES: ReadonlyMap<string, { type: string; body: Buffer }> = new Map([
  ["/style.css", { type: "text/css; charset=utf-8", body: publicFile("style.css") }],
  ["/favicon.ico", { type: "image/x-icon", body: publicFile("favicon.ico") }],
]);

function publicFile(name: string): Buffer {
  return fs.readFileSync(fileURLToPath(new URL(`./public/${name}`, import.meta.url)));
}

export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<AppHandle> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const resources = openResources(config);
  try {
    const demoUser = config.seedDemoUser ? await seedDemoUser(resources.users) : undefined;
    const health: HealthState = { shuttingDown: false };
    const app = buildApp(config, logger, resources, options.throttleKeyPrefix ?? "app:login:", health);
    return { app, users: resources.users, logger, health, demoUser, close: () => resources.close() };
  } catch (error) {
    await resources.close().catch(() => {});
    throw error;
  }
}

function buildApp(
  config: AppConfig,
  logger: Logger,
  resources: ReturnType<typeof openResources>,
  throttleKeyPrefix: string,
  health: HealthState,
): Koa {
  // maxIpsCount: only the X-Forwarded-For entries our proxies appended; the client writes the rest.
  const app = new Koa({ proxy: config.trustProxy > 0, maxIpsCount: config.trustProxy });
  // One key per instance, so instances probing one store at the same moment never touch each other's.
  const sessionProbeKey = `${READINESS_PROBE_KEY}:${randomBytes(8).toString("hex")}`;
  app.keys = config.sessionKeys;
  // Errors are logged once, by the error boundary; Koa's default handler would print stacks to stderr.
  app.silent = true;
  logOutages(app, logger);

  app.use(
    healthRoutes(
      [
        // A write and a delete of a key no session uses: a store that still reads but can't write
        // (a full disk, Redis at maxmemory, a PostgreSQL primary demoted to read-only) fails every
        // login, so it must take the instance out of rotation too.
        { name: "sessions", check: () => probeStoreWrite(resources.store, sessionProbeKey) },
        { name: "users", check: () => resources.users.findById(READINESS_PROBE_KEY) },
      ],
      health,
    ),
  );
  app.use(requestLogger(logger));
  app.use(securityHeaders());
  app.use(errorHandler(logger));
  app.use(async (ctx, next) => {
    const file = STATIC_FILES.get(ctx.path);
    if (!file || (ctx.method !== "GET" && ctx.method !== "HEAD")) return next();
    ctx.type = file.type;
    ctx.set("Cache-Control", "public, max-age=3600");
    ctx.body = file.body;
  });
  app.use(parseBody());
  app.use(
    session(
      {
        key: config.secureCookies ? "__Host-sid" : "sessionkit.sid",
        store: resources.store,
        sameSite: "lax",
        httpOnly: true,
        // Unset, the library's rule applies: Secure exactly when the request is HTTPS (honouring
        // app.proxy, so X-Forwarded-Proto behind TRUST_PROXY); SECURE_COOKIES only forces it.
        ...(config.secureCookies === undefined ? {} : { secure: config.secureCookies }),
        // The cookie lives as long as a login may; auth() ends it earlier when idle.
        maxAge: config.absoluteTimeoutMs,
        onEvent: auditLogger(logger),
      },
      app,
    ),
  );
  app.use(auth({ idleTimeout: config.idleTimeoutMs, absoluteTimeout: config.absoluteTimeoutMs }));
  app.use(htmlRejections());
  app.use(csrf());
  app.use(acceptedContentTypes());

  // In Redis or PostgreSQL when those hold the sessions (every instance sees one count), else in the
  // users' database, so a restart never forgets a lockout (resources.ts).
  const throttle = loginThrottle({ ...resources.throttleBacking, keyPrefix: throttleKeyPrefix, tableName: "app_login_limits" });
  const deps: RouteDeps = { config, users: resources.users, throttle, store: resources.store, logger };
  for (const router of [loginRoutes(deps), accountRoutes(deps), adminRoutes(deps)]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}

/** csrf() answers 403 in JSON; a person posting a form gets the same refusal as a page. */
function htmlRejections(): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.status === 403 && wantsHtml(ctx)) {
      const body = ctx.body as { error?: unknown } | undefined;
      const reason = typeof body?.error === "string" ? body.error : "Forbidden";
      sendHtml(ctx, 403, errorPage(403, `${reason}. Reload the page and try again.`));
    }
  };
}

/** Headers every response carries: no sniffing, no framing, no inline script, forms only to us. */
function securityHeaders(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } finally {
      ctx.set("X-Content-Type-Options", "nosniff");
      ctx.set("X-Frame-Options", "DENY");
      ctx.set("Referrer-Policy", "same-origin");
      ctx.set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
    }
  };
}

/** Write a short-lived entry and remove it: one round trip each, through the same store as sessions. */
async function probeStoreWrite(store: SessionStore, key: string): Promise<void> {
  const maxAge = 60_000;
  await store.set(key, { _expire: Date.now() + maxAge, _maxAge: maxAge }, maxAge, { changed: true });
  await store.destroy(key, {});
}

/** First start with no users: create demo@example.com with a random password. */
async function seedDemoUser(users: UserRepository): Promise<{ email: string; password: string } | undefined> {
  if ((await users.count()) > 0) return undefined;
  const password = randomBytes(12).toString("base64url");
  try {
    await users.create({ email: DEMO_EMAIL, passwordHash: await hashPassword(password), role: "user" });
  } catch (error) {
    // Another process seeded it first; its password is the one that was printed.
    if (error instanceof DuplicateEmailError) return undefined;
    throw error;
  }
  return { email: DEMO_EMAIL, password };
}
