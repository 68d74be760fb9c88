/**
 * Real services for tests. A suite that needs Redis, PostgreSQL or MariaDB runs against the real server.
 * Without it, the suite skips with a visible notice on a user's machine; under CI=true a missing
 * service fails the run instead, so a green CI always means the suite really ran.
 */
import net from "node:net";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const MARIADB_URL = process.env.TEST_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/test";

const SERVICES = {
  redis: { url: REDIS_URL, port: 6379 },
  postgres: { url: DATABASE_URL, port: 5432 },
  mariadb: { url: MARIADB_URL, port: 3306 },
} as const;

function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

const cache = new Map<string, Promise<boolean>>();

/**
 * Resolve true when the service answers. When it does not: under CI=true throw (the run fails);
 * otherwise print a notice and resolve false so the caller can `describe.skipIf(!up)`.
 */
export function requireService(name: keyof typeof SERVICES): Promise<boolean> {
  let pending = cache.get(name);
  if (!pending) {
    const url = new URL(SERVICES[name].url);
    const port = Number(url.port || SERVICES[name].port);
    pending = portOpen(url.hostname, port).then((up) => {
      if (up) return true;
      const message = `${name} is not reachable at ${url.host}`;
      if (process.env.CI === "true") {
        throw new Error(`${message}; under CI=true a missing service fails the run. Start it (see README, "Services").`);
      }
      console.warn(`\n  SKIPPED: ${message}; its tests are skipped. Start ${name} to run them.\n`);
      return false;
    });
    cache.set(name, pending);
  }
  return pending;
}

/**
 * The same rule for a program a test starts itself (redis-server for its own replica, sentinels or
 * cluster; PostgreSQL's initdb): true when `available`; otherwise under CI=true throw, else print a
 * notice and return false for `describe.skipIf(!…)`.
 */
export function requireTool(available: boolean, what: string, install: string): boolean {
  if (available) return true;
  if (process.env.CI === "true") throw new Error(`${what}; under CI=true these tests must run. ${install}`);
  console.warn(`\n  SKIPPED: ${what}; these tests are skipped. ${install}\n`);
  return false;
}
