/**
 * `GET /healthz` and `GET /readyz` for load balancers and orchestrators.
 *
 * - /healthz: the process is up and serving HTTP. Always 200 `{"ok":true}`; it checks nothing else,
 *   so a store outage never gets a healthy process restarted.
 * - /readyz: this instance can serve logins. 200 `{"ok":true}` when the session store takes a write
 *   and the user database answers, each within a second; otherwise 503 `{"ok":false,"failing":[...]}` naming them.
 *   During a graceful shutdown it answers 503 with "shutdown" so the balancer drains the instance.
 *
 * Both are answered before the request log, the body parser and session(): a poll every few seconds
 * gets no cookie, no session and no log line.
 */
import type Koa from "koa";

/** A dependency the instance needs to serve logins. `check` resolves when it answered. */
export interface ReadinessProbe {
  name: string;
  check(): Promise<unknown>;
}

export interface HealthState {
  /** Set on SIGTERM/SIGINT: /readyz answers 503 from then on. */
  shuttingDown: boolean;
}

/** A probe slower than this counts as failing; balancers typically time out at 2–5 s. */
export const PROBE_TIMEOUT_MS = 1000;

export function healthRoutes(probes: readonly ReadinessProbe[], state: HealthState): Koa.Middleware {
  // Polls that arrive while a round of probes is running share it, so a burst of balancer checks
  // costs one store write + delete and one user lookup.
  let inFlight: Promise<string[]> | undefined;
  const failing = (): Promise<string[]> => {
    inFlight ??= runProbes(probes).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  return async (ctx, next) => {
    if (ctx.path !== "/healthz" && ctx.path !== "/readyz") return next();
    if (ctx.method !== "GET" && ctx.method !== "HEAD") {
      ctx.status = 405;
      ctx.set("Allow", "GET, HEAD");
      ctx.body = { error: "Method Not Allowed" };
      return;
    }
    ctx.set("Cache-Control", "no-store");
    if (ctx.path === "/healthz") {
      ctx.body = { ok: true };
      return;
    }
    const names = state.shuttingDown ? ["shutdown"] : await failing();
    ctx.status = names.length === 0 ? 200 : 503;
    ctx.body = names.length === 0 ? { ok: true } : { ok: false, failing: names };
  };
}

async function runProbes(probes: readonly ReadinessProbe[]): Promise<string[]> {
  const results = await Promise.all(probes.map((probe) => withinDeadline(probe)));
  return probes.filter((_, i) => !results[i]).map((probe) => probe.name);
}

/** true when the probe answered in time; a rejection or a hang is false, never an exception. */
function withinDeadline(probe: ReadinessProbe): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    let pending: Promise<unknown>;
    try {
      pending = Promise.resolve(probe.check());
    } catch {
      pending = Promise.reject(new Error("probe threw"));
    }
    pending.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}
