/**
 * Counting Redis commands on the server.
 * - commandstats(): INFO commandstats, for before/after deltas of a timed run. Redis also counts the
 *   commands a Lua script runs (the GET and SET inside an EVALSHA), so for script-based writes these
 *   deltas over-count round trips.
 * - monitorCount(): MONITOR during a short fixed-size counting pass; it sees the source of every command,
 *   so commands run inside scripts ("lua") are left out and what remains is exactly what clients sent.
 *   An MGET or a script call counts once per key it names.
 */
import { Redis } from "ioredis";

export type CommandCounts = Record<string, number>;

/** Commands that only read the session. Everything else a session library sends is a write. */
const READS = new Set(["get", "mget", "getex", "exists", "hgetall", "hget", "ttl", "pttl"]);
/** Connection and admin traffic (client setup, the harness's own INFO), never store operations. */
const IGNORED = new Set(["info", "monitor", "client", "ping", "select", "hello", "script", "command", "quit", "auth", "config", "flushall", "flushdb", "scan", "dbsize", "keys", "del_prefix"]);

export async function commandstats(client: Redis): Promise<CommandCounts> {
  const text = await client.info("commandstats");
  const counts: CommandCounts = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    counts[(match[1] as string).toLowerCase()] = Number(match[2]);
  }
  return counts;
}

export function delta(before: CommandCounts, after: CommandCounts): CommandCounts {
  const out: CommandCounts = {};
  for (const [name, calls] of Object.entries(after)) {
    const difference = calls - (before[name] ?? 0);
    if (difference > 0 && !IGNORED.has(name)) out[name] = difference;
  }
  return out;
}

export function classify(counts: CommandCounts): { reads: number; writes: number } {
  let reads = 0;
  let writes = 0;
  for (const [name, calls] of Object.entries(counts)) {
    if (IGNORED.has(name)) continue;
    if (READS.has(name)) reads += calls;
    else writes += calls;
  }
  return { reads, writes };
}

/** Session operations one command carries: its keys for MGET and scripts, otherwise one. */
function operations(name: string, args: string[]): number {
  if (name === "mget") return args.length - 1;
  if (name === "evalsha" || name === "eval") return Number(args[2]) || 1;
  return 1;
}

/** Start MONITOR; stop() resolves the counts of client-sent commands (script-internal ones excluded). */
export async function monitorCount(url: string): Promise<{ stop: () => Promise<CommandCounts> }> {
  const client = new Redis(url, { lazyConnect: true });
  await client.connect();
  const monitor = await client.monitor();
  const counts: CommandCounts = {};
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (source === "lua") return;
    const name = (args[0] ?? "").toLowerCase();
    if (IGNORED.has(name)) return;
    // One store operation per key: koa-sessionkit sends the session reads of one event-loop turn as
    // one MGET and its compare-and-sets as one EVALSHA over their keys (stores/turn-batch.ts), and
    // "store reads/writes per request" count sessions read and written, not commands.
    counts[name] = (counts[name] ?? 0) + operations(name, args);
  });
  return {
    stop: async () => {
      // Let the last replies of the pass arrive before closing.
      await new Promise((resolve) => setTimeout(resolve, 200));
      monitor.disconnect();
      client.disconnect();
      return counts;
    },
  };
}

/** Delete the benchmark's keys (by prefix) from a shared Redis. */
export async function deletePrefix(client: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}
