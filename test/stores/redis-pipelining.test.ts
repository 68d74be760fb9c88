/**
 * RedisStore's batches leave at once, each on its own, never queued behind the previous batch's reply.
 * ioredis's enableAutoPipelining lets one pipeline per connection be in flight: with it, the second
 * MGET of a busy turn waited for the first one's round trip (redis-client.ts, sendNow). A
 * scripted RESP server holds its replies until it has seen two batches, so a client that queues the
 * second behind the first's reply shows up as one batch seen (and a 300 ms stall) instead of two.
 * Each test's second batch starts 20 ms after the first, once the first is on the wire.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { StoredSession } from "../../src/stores/contract.js";
import { failFastRedisOptions, RedisStore } from "../../src/stores/redis.js";
import { MAX_BATCH } from "../../src/stores/turn-batch.js";
import type { Redis } from "ioredis";
import { IOREDIS_VERSIONS } from "../helpers/ioredis-versions.js";

/** Replies to a batch command (MGET or EVALSHA) are held until `hold` of them arrived, or 300 ms passed. */
interface Scripted {
  url: string;
  /** Batch commands seen when the held replies were released, and whether the wait timed out. */
  released: Promise<{ seen: number; timedOut: boolean }>;
  /** Every command received, as its arguments. */
  commands: string[][];
  close(): Promise<void>;
}

const BATCH_COMMANDS = new Set(["mget", "evalsha"]);
const STORED = JSON.stringify({ _expire: Date.now() + 3_600_000, n: 1 });

function reply(args: string[]): string {
  const name = (args[0] ?? "").toLowerCase();
  const bulk = (text: string): string => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  if (name === "mget") return `*${args.length - 1}\r\n${args.slice(1).map(() => bulk(STORED)).join("")}`;
  if (name === "evalsha") return `*${Number(args[2])}\r\n${":1\r\n".repeat(Number(args[2]))}`;
  if (name === "info") return bulk("# Server\r\nloading:0\r\n");
  if (name === "config") return "*0\r\n";
  if (name === "script") return bulk("0".repeat(40));
  return "+OK\r\n";
}

/** Parses complete RESP arrays off the front of `buffer`; returns them and what is left. */
function parse(buffer: string): { commands: string[][]; rest: string } {
  const commands: string[][] = [];
  let at = 0;
  for (;;) {
    const header = /^\*(\d+)\r\n/.exec(buffer.slice(at));
    if (!header) break;
    let cursor = at + header[0].length;
    const args: string[] = [];
    let complete = true;
    for (let i = 0; i < Number(header[1]); i++) {
      const length = /^\$(\d+)\r\n/.exec(buffer.slice(cursor));
      if (!length || buffer.length < cursor + length[0].length + Number(length[1]) + 2) {
        complete = false;
        break;
      }
      cursor += length[0].length;
      args.push(buffer.slice(cursor, cursor + Number(length[1])));
      cursor += Number(length[1]) + 2;
    }
    if (!complete) break;
    commands.push(args);
    at = cursor;
  }
  return { commands, rest: buffer.slice(at) };
}

async function scriptedRedis(hold: number): Promise<Scripted> {
  const commands: string[][] = [];
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  let release: (result: { seen: number; timedOut: boolean }) => void = () => undefined;
  const released = new Promise<{ seen: number; timedOut: boolean }>((resolve) => (release = resolve));
  let timer: NodeJS.Timeout | undefined;
  let batches = 0;
  const flush = (timedOut: boolean): void => {
    clearTimeout(timer);
    release({ seen: batches, timedOut });
    for (const send of held.splice(0)) send();
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buffer = "";
    socket.on("data", (chunk) => {
      const parsed = parse(buffer + chunk.toString("utf8"));
      buffer = parsed.rest;
      for (const args of parsed.commands) {
        commands.push(args);
        const text = reply(args);
        if (!BATCH_COMMANDS.has((args[0] ?? "").toLowerCase())) {
          // Replies keep command order on a connection: behind a held batch, this one waits too.
          if (held.length > 0) held.push(() => socket.write(text));
          else socket.write(text);
          continue;
        }
        held.push(() => socket.write(text));
        if (++batches === 1) timer = setTimeout(() => flush(true), 300);
        if (batches === hold) flush(false);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    released,
    commands,
    close: async () => {
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const session = (n: number): StoredSession => ({ _expire: Date.now() + 3_600_000, n }) as StoredSession;
/** MAX_BATCH calls, then (20 ms later, the first batch sent) MAX_BATCH more; all their results. */
async function inTwoTurns<T>(call: (i: number) => Promise<T>): Promise<T[]> {
  const first = Array.from({ length: MAX_BATCH }, (_, i) => call(i));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const second = Array.from({ length: MAX_BATCH }, (_, i) => call(MAX_BATCH + i));
  return Promise.all([...first, ...second]);
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

describe("RedisStore sends a second batch while the first is still waiting for its reply", () => {
  it("the store's own client has ioredis's auto-pipelining off", () => {
    expect(failFastRedisOptions().enableAutoPipelining).toBe(false);
  });

  const clients = [
    { name: "a client the store creates from url", make: (url: string) => ({ url }) },
    ...IOREDIS_VERSIONS.map(({ name, Redis: Client }) => ({
      name: `${name}: your client with enableAutoPipelining and a keyPrefix`,
      make: (url: string) => ({ client: new Client(url, { ...failFastRedisOptions(), enableAutoPipelining: true, keyPrefix: "app:" }) }),
    })),
  ];

  /** A RedisStore (keyPrefix "sess:") on a scripted server that holds its replies until two batches came; both go at the test's end. */
  async function storeOnScriptedRedis(make: (url: string) => { url: string } | { client: Redis }): Promise<{ fake: Scripted; store: RedisStore; yourClient: boolean }> {
    const fake = await scriptedRedis(2);
    cleanup.push(() => fake.close());
    const options = make(fake.url);
    const store = new RedisStore({ ...options, keyPrefix: "sess:" });
    cleanup.push(async () => {
      await store.close();
      if ("client" in options) options.client.disconnect();
    });
    return { fake, store, yourClient: "client" in options };
  }

  for (const { name, make } of clients) {
    it(`${name}: reads`, async () => {
      const { fake, store, yourClient } = await storeOnScriptedRedis(make);
      // The second batch starts once the first is on the wire (a later event-loop turn), as under load.
      const reads = await inTwoTurns((i) => store.get(`k${i}`));
      expect(await fake.released).toEqual({ seen: 2, timedOut: false });
      expect(reads.map((stored) => stored?.n)).toEqual(Array.from({ length: 2 * MAX_BATCH }, () => 1));
      const mgets = fake.commands.filter((args) => args[0]?.toLowerCase() === "mget");
      expect(mgets.map((args) => args.length - 1)).toEqual([MAX_BATCH, MAX_BATCH]);
      // The client's own keyPrefix still applies to commands sent past its auto-pipeline.
      const prefix = yourClient ? "app:sess:s:" : "sess:s:";
      expect(mgets.flatMap((args) => args.slice(1)).every((key) => key.startsWith(prefix))).toBe(true);
    });

    it(`${name}: compare-and-sets`, async () => {
      const { fake, store } = await storeOnScriptedRedis(make);
      const base = JSON.stringify(session(1));
      const writes = await inTwoTurns((i) => store.merge(`k${i}`, { set: { n: 2 }, unset: [], reserved: {}, base, result: JSON.stringify(session(2)) }, 60_000));
      expect(await fake.released).toEqual({ seen: 2, timedOut: false });
      expect(writes.every(Boolean)).toBe(true);
      expect(fake.commands.filter((args) => args[0]?.toLowerCase() === "evalsha").map((args) => Number(args[2]))).toEqual([MAX_BATCH, MAX_BATCH]);
    });
  }
});
