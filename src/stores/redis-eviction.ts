/**
 * RedisStore finds a user's sessions through a per-user index key. Under an evicting
 * `maxmemory-policy` Redis may drop that key while the sessions live on, and `logoutEverywhere` then
 * misses them; say so once per process. Managed Redis services often refuse CONFIG: then nothing is
 * said (docs/stores.md, "RedisStore and eviction", says it for them).
 */
import { debuglog } from "node:util";

const debug = debuglog("koa-sessionkit:redis");
let warned = false;

/** The slice of an ioredis client used here. */
interface ConfigClient {
  config?(subcommand: "GET", parameter: string): Promise<unknown>;
}

/** Ask once, in the background; never throws and never delays the store. */
export function warnIfEvicting(client: ConfigClient): void {
  if (warned || typeof client.config !== "function") return;
  client
    .config("GET", "maxmemory-policy")
    .then((answer) => {
      // ioredis answers ["maxmemory-policy", "<policy>"] (a Cluster client: one node's answer).
      const policy = Array.isArray(answer) ? String(answer[1] ?? "") : "";
      if (warned || policy === "" || policy === "noeviction") return;
      warned = true;
      process.emitWarning(
        `koa-sessionkit: Redis runs with maxmemory-policy ${policy}, which may evict RedisStore's per-user index keys; logoutEverywhere and listSessions would then miss sessions. Set maxmemory-policy noeviction (docs/stores.md, "RedisStore and eviction").`,
        { code: "KOA_SESSIONKIT_REDIS_EVICTION" },
      );
    })
    .catch((error: unknown) => debug("could not read maxmemory-policy: %s", (error as Error).message));
}
