/**
 * How a RedisStore gets its ioredis client: yours (`client`), or one it creates from `url` or
 * `sentinels` with a fail-fast policy, so a dead Redis answers in seconds rather than a minute.
 * Everything here runs once, in the store's constructor.
 */
import { debuglog } from "node:util";
import type { Cluster, Redis, RedisOptions } from "ioredis";
import { SessionConfigError } from "../errors.js";
import { loadPeer } from "./peer.js";
import { refuseEmpty } from "./shared.js";

const debug = debuglog("koa-sessionkit:redis");

/**
 * Options of {@link RedisStore}: exactly one of `client`, `url` or `sentinels` (with `name`). Any other
 * ioredis option applies to a client the store creates, over {@link failFastRedisOptions}.
 */
export interface RedisStoreOptions extends RedisOptions {
  /** An ioredis client (standalone or Sentinel) or Cluster you manage; the store never quits it. */
  client?: Redis | Cluster;
  /** redis:// or rediss:// URL; the store creates (and on close quits) its own client. */
  url?: string;
  /**
   * Instead of `url`: Redis Sentinel. `sentinels: [{ host, port }, …]` with the master group's `name`;
   * the store creates its own client that asks the sentinels for the current primary.
   */
  sentinels?: RedisOptions["sentinels"];
  /** Prefix of every key the store writes. Default "sess:". */
  keyPrefix?: string;
}

function loadIoredis(): typeof import("ioredis") {
  return loadPeer<typeof import("ioredis")>("ioredis", "RedisStore");
}

/**
 * The failure policy of a client the store creates, exported so a client you make yourself (a Sentinel
 * or Cluster client passed as `{ client }`) can fail fast too: `new Redis({ ...failFastRedisOptions(), … })`.
 * ioredis's defaults queue commands while disconnected and retry each one 20 times, so a request can
 * wait a minute on a dead Redis. Instead:
 * - the offline queue stays on, so commands issued during the first connect wait for it;
 * - maxRetriesPerRequest: 1 fails a queued command after one failed reconnect (about a second),
 *   connectTimeout and commandTimeout bound a silent network (no RST) to a few seconds;
 * - retryStrategy never gives up (capped at 1 s between attempts), so when Redis returns the same
 *   store works again without a restart (ioredis 6's default backs off to 5 s);
 * - Sentinel: failoverDetector reconnects as soon as the sentinels announce a new primary, and a
 *   READONLY reply (connected to a demoted primary) forces a reconnect, which asks the sentinels again.
 * Every option can be overridden by passing it.
 */
export function failFastRedisOptions(): RedisOptions {
  return {
    // Off: the store batches its own hot commands (turn-batch.ts), and ioredis's auto-pipeline lets
    // one pipeline per connection be in flight, so each batch waited for the previous one's reply
    // (see sendNow below).
    enableAutoPipelining: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    commandTimeout: 3000,
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
    failoverDetector: true,
    reconnectOnError: (error: Error) => error.message.startsWith("READONLY"),
  };
}

function checkSentinels(options: RedisOptions): void {
  const { sentinels, name } = options;
  const valid = (entry: unknown) => typeof (entry as { port?: unknown } | null)?.port === "number" || typeof (entry as { host?: unknown } | null)?.host === "string";
  if (!Array.isArray(sentinels) || sentinels.length === 0 || !sentinels.every(valid)) {
    throw new SessionConfigError('RedisStore sentinels must be a non-empty array of { host, port }, e.g. [{ host: "10.0.0.5", port: 26379 }]');
  }
  if (typeof name !== "string" || name === "") {
    throw new SessionConfigError('RedisStore with sentinels needs name, the master group the sentinels monitor (e.g. name: "mymaster")');
  }
}

/** The client a store uses, and whether the store made it (and so quits it on close). */
export interface RedisConnection {
  client: Redis | Cluster;
  owned: boolean;
}

/** Validate the client/url/sentinels choice and return the client to use. */
export function connectRedis(options: RedisStoreOptions): RedisConnection {
  const { client, url, keyPrefix: _keyPrefix, ...redisOptions } = options;
  const sentinel = redisOptions.sentinels !== undefined && redisOptions.sentinels !== null;
  if ([client !== undefined, url !== undefined, sentinel].filter(Boolean).length > 1) {
    throw new SessionConfigError("RedisStore takes one of client, url or sentinels; drop the others");
  }
  if ((options as { prefix?: unknown }).prefix !== undefined) {
    // connect-redis's and koa-redis's name for it; ioredis would ignore it in silence.
    throw new SessionConfigError("RedisStore has no option prefix; the prefix of the keys it writes is keyPrefix (default \"sess:\")");
  }
  if (client) {
    const ignored = Object.keys(redisOptions).filter((name) => (redisOptions as Record<string, unknown>)[name] !== undefined);
    if (ignored.length > 0) {
      throw new SessionConfigError(`RedisStore({ client }) uses your client as it is, so ${ignored.join(", ")} would do nothing; set ioredis options on the client you pass (new Redis({ ...failFastRedisOptions(), … }))`);
    }
    // A URL where a client belongs would otherwise fail only at the first request, as a 503.
    if (typeof (client as Partial<Redis>).get !== "function") {
      throw new SessionConfigError(`RedisStore({ client }) needs an ioredis client (new Redis(url)), got ${typeof client === "string" ? "a string; pass it as { url }" : typeof client}`);
    }
    return { client, owned: false };
  }
  if (sentinel) checkSentinels(redisOptions);
  else if (typeof url === "string") refuseEmpty("RedisStore", "url", url, '{ url: "redis://host:6379" }');
  else {
    throw new SessionConfigError(
      'RedisStore needs { client }, { url: "redis://host:6379" } or { sentinels: [{ host, port }], name: "mymaster" }',
    );
  }
  const ioredis = loadIoredis();
  const RedisClass = ioredis.Redis ?? ioredis.default;
  const settings = { ...failFastRedisOptions(), ...redisOptions };
  const created = sentinel ? new RedisClass(settings) : new RedisClass(url as string, settings);
  // Without a listener ioredis prints every reconnect error; failures reach callers as rejections anyway.
  created.on("error", (error: Error) => debug("redis client error: %s", error.message));
  return { client: created, owned: true };
}

/** Runs `send` (one command method call of the client) so that its command leaves at once. */
export type SendNow = <T>(send: () => Promise<T>) => Promise<T>;

/**
 * For the store's batched commands: sends them past ioredis's auto-pipeline when the client has
 * `enableAutoPipelining` on (a client you pass as `{ client }`; the store's own has it off).
 *
 * Why: ioredis lets one auto-pipeline per connection be in flight and queues every later command
 * until its reply has arrived. The store already batches its hot commands itself (a turn's reads as
 * MGETs, its compare-and-sets as script calls, turn-batch.ts); behind the auto-pipeline each batch
 * sat until the previous batch's round trip had ended, so the server idled between replies and
 * requests lived long enough to be promoted to V8's old generation. Measured side by side on the
 * benchmark: 9–15 % more Redis reads and 10–32 % more writes per second without it (bench/README.md).
 *
 * How: ioredis decides per call, from the client's options, whether a command joins the
 * auto-pipeline, so the flag is off for the one synchronous call and restored at once. That works
 * for any copy and version of ioredis and leaves every other command of yours auto-pipelined. A
 * Cluster is left alone: the store does not batch there, and its auto-pipeline groups by node.
 */
export function sendNow(client: Redis | Cluster): SendNow {
  const options = (client as { options?: { enableAutoPipelining?: unknown } }).options;
  if (client.isCluster || options === undefined) return (send) => send();
  return (send) => {
    if (options.enableAutoPipelining !== true) return send();
    options.enableAutoPipelining = false;
    try {
      return send();
    } finally {
      options.enableAutoPipelining = true;
    }
  };
}
