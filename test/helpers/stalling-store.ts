/**
 * For tests of stalled stores (not a test file itself): a MemoryStore, per-user index included,
 * whose operations can be switched to hang, to answer late, or to reject late; and a one-shot HTTP
 * client that times each request.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { MemoryStore, type MaxAge, type SessionChanges, type SessionStore, type StoredSession } from "../../src/index.js";

export type Operation = "get" | "set" | "destroy" | "merge" | "touch" | "listByUser" | "destroyByUser";
/** hang: never settles; delayMs: answers after that long; lateRejectMs: rejects after that long. */
export type Behaviour = "ok" | "hang" | { delayMs: number } | { lateRejectMs: number };

/** Run `run` the way `behaviour` says (shared with stalling wrappers of other clients). */
export function behave<T>(behaviour: Behaviour, run: () => T | Promise<T>, what = "store call"): T | Promise<T> {
  if (behaviour === "ok") return run();
  if (behaviour === "hang") return new Promise<T>(() => undefined);
  if ("delayMs" in behaviour) return new Promise<T>((resolve) => setTimeout(() => resolve(run()), behaviour.delayMs));
  return new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`late ${what} failure`)), behaviour.lateRejectMs));
}

export class StallingStore implements SessionStore {
  readonly inner = new MemoryStore();
  readonly behaviour = new Map<Operation, Behaviour>();
  readonly calls: Operation[] = [];

  #run<T>(operation: Operation, run: () => T | Promise<T>): T | Promise<T> {
    this.calls.push(operation);
    return behave(this.behaviour.get(operation) ?? "ok", run, operation);
  }
  get(key: string): StoredSession | null | Promise<StoredSession | null> {
    return this.#run("get", () => this.inner.get(key));
  }
  set(key: string, stored: StoredSession, maxAge: MaxAge | undefined): unknown {
    return this.#run("set", () => this.inner.set(key, stored, maxAge));
  }
  destroy(key: string): unknown {
    return this.#run("destroy", () => this.inner.destroy(key));
  }
  merge(key: string, changes: SessionChanges, maxAge: MaxAge | undefined): Promise<boolean> {
    return Promise.resolve(this.#run("merge", () => this.inner.merge(key, changes, maxAge)));
  }
  touch(key: string, stored: StoredSession, maxAge: MaxAge | undefined): Promise<void> {
    return Promise.resolve(this.#run("touch", () => this.inner.touch(key, stored, maxAge)));
  }
  listByUser(userId: string) {
    return Promise.resolve(this.#run("listByUser", () => this.inner.listByUser(userId)));
  }
  destroyByUser(userId: string, options?: { except?: string }) {
    return Promise.resolve(this.#run("destroyByUser", () => this.inner.destroyByUser(userId, options)));
  }
  /** How many of this operation were made since `from` (an index into calls). */
  count(operation: Operation, from = 0): number {
    return this.calls.slice(from).filter((call) => call === operation).length;
  }
}

export interface Reply {
  status: number;
  ms: number;
  body: string;
  setCookie: string[];
  retryAfter: string | undefined;
  cacheControl: string | undefined;
}

/** One request on its own connection (agent: false, closed after it, so no keep-alive socket lingers). */
export function send(port: number, path: string, cookie?: string, method = "GET"): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, method, agent: false, headers: cookie ? { cookie } : {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          ms: performance.now() - started,
          body: Buffer.concat(chunks).toString("utf8"),
          setCookie: response.headers["set-cookie"] ?? [],
          retryAfter: response.headers["retry-after"] as string | undefined,
          cacheControl: response.headers["cache-control"],
        }),
      );
    });
    request.on("error", reject);
    request.end();
  });
}

/** The Cookie header a browser would send back after `reply`. */
export const cookieOf = (reply: Reply): string => reply.setCookie.map((line) => line.split(";")[0]).join("; ");

/** Listen on a free loopback port; close() drops open connections first. */
export async function listen(callback: http.RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(callback);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
