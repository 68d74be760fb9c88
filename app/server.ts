/**
 * `npm start`: parse the configuration, build the app, listen, and shut down gracefully on
 * SIGTERM/SIGINT (report not-ready on /readyz, stop accepting, let in-flight requests finish within
 * 10 s, close stores and databases, exit 0).
 * A configuration problem is one line on stderr and exit code 1.
 */
import type { Server } from "node:http";
import type { Logger } from "pino";
import { createApp } from "./app.js";
import { answerClientErrors } from "./http.js";
import { ConfigError, loadConfig } from "./config.js";
import { UsersUnavailableError } from "./users/unavailable.js";

/** In-flight requests get this long to finish after a shutdown signal. */
const SHUTDOWN_GRACE_MS = 10_000;

function fail(message: string): never {
  process.stderr.write(`koa-sessionkit app: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }

  let handle;
  try {
    handle = await createApp(config);
  } catch (error) {
    fail(`could not start: ${startFailure(error)}`);
  }
  const { app, logger, demoUser, close, health } = handle;
  if (demoUser) process.stdout.write(`Demo user: ${demoUser.email} / ${demoUser.password}\n`);

  const server: Server = app.listen(config.port, config.host);
  answerClientErrors(server);
  server.on("error", (error: NodeJS.ErrnoException) => {
    void close().finally(() => fail(`could not listen on ${config.host}:${config.port}: ${oneLine(error)}`));
  });
  server.on("listening", () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    logger.info({ url: `http://${host}:${port}/`, store: config.sessionStore }, "listening");
    process.stdout.write(`Listening on http://${host}:${port}/\n`);
  });

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // From now on /readyz answers 503; with SHUTDOWN_DELAY the balancer sees that and stops sending
    // new requests before this instance stops accepting them.
    health.shuttingDown = true;
    // Every response from now on closes its connection: a client (or a balancer's keep-alive pool,
    // which never reads /readyz) opens its next connection elsewhere instead of reusing this one, and
    // busy keep-alive connections don't hold server.close() open. Without it, requests already sent
    // on a reused connection were reset when the drain ended.
    server.prependListener("request", (_request, response) => response.setHeader("Connection", "close"));
    logger.info({ signal, delayMs: config.shutdownDelayMs }, "shutting down");
    setTimeout(() => stopServing(server, logger, close), config.shutdownDelayMs);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

/** Stop accepting, let in-flight requests finish (bounded), close stores and databases, exit. */
function stopServing(server: Server, logger: Logger, close: () => Promise<void>): void {
  const force = setTimeout(() => {
    logger.warn("in-flight requests did not finish in time; closing their connections");
    server.closeAllConnections();
  }, SHUTDOWN_GRACE_MS);
  force.unref();
  // close() stops accepting and resolves once every in-flight request has finished.
  server.close(() => {
    clearTimeout(force);
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "error while closing stores");
        process.exit(1);
      },
    );
  });
  // Keep-alive connections with no request in flight would hold close() open.
  server.closeIdleConnections();
}

/**
 * Why createApp failed, for an operator. An unreachable user database is said as such, with the
 * driver's reason (its request-time message speaks of 503 answers, which mean nothing before start).
 */
function startFailure(error: unknown): string {
  if (!(error instanceof UsersUnavailableError)) return oneLine(error);
  const cause = error.cause;
  const reasons = cause instanceof AggregateError ? cause.errors.map(oneLine) : [oneLine(cause)];
  const code = (cause as { code?: unknown } | null)?.code;
  const reason = reasons.filter(Boolean).join("; ") || (typeof code === "string" ? code : "no reason given");
  return `the user database could not be reached (${reason}); check that DATABASE_URL's server (or the SQLite file in DATA_DIR) is up and reachable, then start again`;
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? "unknown error";
}

main().catch((error: unknown) => fail(oneLine(error)));
