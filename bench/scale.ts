/**
 * `npm run bench -- --scale`: sessionkit read latency with few versus many live sessions per store.
 *
 * Each store is filled directly (bypassing the middleware, same key format: `prefix + sha256(id)` as
 * base64url, same JSON shape), then a sessionkit-<store>-read server is started, one session logs in,
 * and wrk (50 connections) measures reads of it. Memory is filled inside the server process through set(), which
 * also yields bytes per session (heapUsed delta after GC / count). Everything is removed afterwards.
 *
 *   --scale-counts 1000,1000000   (default)    --scale-stores redis,postgres,sqlite,memory (default)
 *   --quick                                     2 s runs instead of 5 s
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import type BetterSqlite3 from "better-sqlite3";
import { REDIS_PREFIX, SESSION_MAX_AGE_MS } from "./lib/cases.js";
import { BENCH_DIR, get, login, onExit, onInterrupt, runLoadProcess, startPrivateRedis, startServer } from "./lib/harness.js";
import { deletePrefix } from "./lib/redis-count.js";
import { POSTGRES_SCHEMA_SQL } from "../src/stores/postgres.js";
import { SQLITE_SCHEMA_SQL } from "../src/stores/sqlite.js";

type StoreName = "redis" | "postgres" | "sqlite" | "memory";
const ALL_STORES: StoreName[] = ["redis", "postgres", "sqlite", "memory"];
const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const PG_SCALE_TABLE = "skbench_scale";
const SERVER_CORE = 0;
const LOAD_CORE = 1;

interface ScaleRow {
  store: StoreName;
  sessions: number;
  populateSeconds: number | null;
  reqPerSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  bytesPerSession?: number;
  note?: string;
}

function storeKey(i: number): string {
  return createHash("sha256").update(`skbench-scale-${i}`).digest("base64url");
}

function sessionJson(i: number, now: number): string {
  return JSON.stringify({ _expire: now + SESSION_MAX_AGE_MS, _maxAge: SESSION_MAX_AGE_MS, _sk: { createdAt: now, lastSeenAt: now }, userId: `u${i}` });
}

async function populateRedis(url: string, count: number): Promise<void> {
  const client = new Redis(url);
  const now = Date.now();
  const ttl = SESSION_MAX_AGE_MS + 10_000;
  const batch = 10_000;
  for (let start = 0; start < count; start += batch) {
    const pipeline = client.pipeline();
    for (let i = start; i < Math.min(count, start + batch); i++) pipeline.set(`${REDIS_PREFIX}s:${storeKey(i)}`, sessionJson(i, now), "PX", ttl);
    await pipeline.exec();
  }
  client.disconnect();
}

async function populatePostgres(count: number): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS ${PG_SCALE_TABLE}`);
    await client.query(POSTGRES_SCHEMA_SQL(`"${PG_SCALE_TABLE}"`, PG_SCALE_TABLE));
    const now = Date.now();
    const chunk = 250_000;
    for (let start = 1; start <= count; start += chunk) {
      const end = Math.min(count, start + chunk - 1);
      // Generated server-side: base64url(sha256(...)) keys, the store's JSON shape, one statement per chunk.
      await client.query(
        `INSERT INTO ${PG_SCALE_TABLE} (key, data, expires_at, created_at, last_seen_at)
         SELECT rtrim(translate(encode(sha256(('skbench-scale-' || i)::bytea), 'base64'), '+/', '-_'), '='),
                json_build_object('_expire', $1::bigint, '_maxAge', $2::bigint,
                  '_sk', json_build_object('createdAt', $3::bigint, 'lastSeenAt', $3::bigint), 'userId', 'u' || i)::text,
                $4::bigint, $3::bigint, $3::bigint
         FROM generate_series($5::int, $6::int) AS i`,
        [now + SESSION_MAX_AGE_MS, SESSION_MAX_AGE_MS, now, now + SESSION_MAX_AGE_MS + 10_000, start, end],
      );
    }
    await client.query(`ANALYZE ${PG_SCALE_TABLE}`);
  } finally {
    await client.end();
  }
}

async function dropPostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP TABLE IF EXISTS ${PG_SCALE_TABLE}`);
  await client.end();
}

function populateSqlite(path: string, count: number): void {
  const Database = createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(SQLITE_SCHEMA_SQL("koa_sessions"));
  db.function("sk_key", (i: unknown) => storeKey(Number(i)));
  const now = Date.now();
  db.function("sk_json", (i: unknown) => sessionJson(Number(i), now));
  const insert = db.prepare(
    `WITH RECURSIVE seq(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
     INSERT INTO koa_sessions (key, data, user_id, expires_at, created_at, last_seen_at)
     SELECT sk_key(i), sk_json(i), NULL, ?, ?, ? FROM seq`,
  );
  const chunk = 100_000;
  for (let start = 0; start < count; start += chunk) {
    const end = Math.min(count, start + chunk) - 1;
    db.transaction(() => insert.run(start, end, now + SESSION_MAX_AGE_MS + 10_000, now, now))();
  }
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
}

async function measure(caseName: string, env: Record<string, string>, duration: number, nodeFlags: string[] = []): Promise<Omit<ScaleRow, "store" | "sessions" | "populateSeconds">> {
  const started = await startServer(caseName, env, SERVER_CORE, nodeFlags);
  if (started.kind === "skipped") return { reqPerSec: null, p50Ms: null, p99Ms: null, note: `skipped: ${started.reason}` };
  const { server } = started;
  try {
    const cookie = await login(server.port);
    const probe = await get(server.port, "/", cookie);
    if (probe.body !== "u1") throw new Error(`${caseName}: sanity read answered ${probe.status} ${probe.body.slice(0, 80)}`);
    const url = `http://127.0.0.1:${server.port}/`;
    await runLoadProcess({ url, connections: 50, duration: 1, cookies: [cookie] }, LOAD_CORE);
    const load = await runLoadProcess({ url, connections: 50, duration, cookies: [cookie] }, LOAD_CORE);
    const out: Omit<ScaleRow, "store" | "sessions" | "populateSeconds"> = { reqPerSec: Math.round(load.reqPerSec), p50Ms: load.p50Ms, p99Ms: load.p99Ms };
    if (server.memory) out.bytesPerSession = Math.round(server.memory.bytesPerSession);
    return out;
  } finally {
    await server.stop();
  }
}

export async function runScale(options: { counts: string | undefined; stores: string | undefined; quick: boolean }): Promise<void> {
  const counts = (options.counts ?? "1000,1000000").split(",").map((value) => Number(value.trim()));
  const stores = (options.stores ?? ALL_STORES.join(",")).split(",").map((value) => value.trim()) as StoreName[];
  const duration = options.quick ? 2 : 5;
  const privateRedis = stores.includes("redis") ? await startPrivateRedis() : undefined;
  const redisUrl = privateRedis?.url ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const dir = join(tmpdir(), `skbench-scale-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  const rows: ScaleRow[] = [];

  try {
    for (const store of stores) {
      for (const count of counts) {
        const began = Date.now();
        let row: ScaleRow;
        try {
          if (store === "redis") {
            await populateRedis(redisUrl, count);
            const populateSeconds = (Date.now() - began) / 1000;
            row = { store, sessions: count, populateSeconds, ...(await measure("sessionkit-redis-read", { REDIS_URL: redisUrl }, duration)) };
            const client = new Redis(redisUrl);
            await deletePrefix(client, REDIS_PREFIX);
            client.disconnect();
          } else if (store === "postgres") {
            // Ctrl-C while populating or measuring drops the table too (it can hold a million rows).
            const forget = onInterrupt(dropPostgres);
            try {
              await populatePostgres(count);
              const populateSeconds = (Date.now() - began) / 1000;
              row = { store, sessions: count, populateSeconds, ...(await measure("sessionkit-postgres-read", { PG_URL, PG_TABLE: PG_SCALE_TABLE }, duration)) };
            } finally {
              forget();
              await dropPostgres();
            }
          } else if (store === "sqlite") {
            const path = join(dir, `scale-${count}.sqlite`);
            populateSqlite(path, count);
            const populateSeconds = (Date.now() - began) / 1000;
            row = { store, sessions: count, populateSeconds, ...(await measure("sessionkit-sqlite-read", { SQLITE_PATH: path }, duration)) };
            for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
          } else {
            // Filled inside the server process (the store lives there); populate time is part of its start-up.
            const result = await measure("sessionkit-memory-read", { SCALE_MEMORY_COUNT: String(count) }, duration, ["--expose-gc", "--max-old-space-size=8192"]);
            row = { store, sessions: count, populateSeconds: (Date.now() - began) / 1000, ...result };
            row.note = "populate time includes server start and the measured run";
          }
        } catch (error) {
          row = { store, sessions: count, populateSeconds: null, reqPerSec: null, p50Ms: null, p99Ms: null, note: `error: ${(error as Error).message}` };
        }
        rows.push(row);
        console.error(`${store} × ${count}: ${JSON.stringify(row)}`);
      }
    }
  } finally {
    if (privateRedis) await privateRedis.stop();
  }

  const output = { node: process.version, cpus: cpus().length, date: new Date().toISOString(), quick: options.quick, durationS: duration, rows };
  mkdirSync(join(BENCH_DIR, "results"), { recursive: true });
  writeFileSync(join(BENCH_DIR, "results/scale.json"), `${JSON.stringify(output, null, 2)}\n`);
  console.log("| store | live sessions | req/s | p50 ms | p99 ms | bytes/session | populate s |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    console.log(
      `| ${row.store} | ${row.sessions.toLocaleString("en-US")} | ${row.reqPerSec ?? row.note ?? "–"} | ${row.p50Ms ?? "–"} | ${row.p99Ms ?? "–"} | ${row.bytesPerSession ?? "–"} | ${row.populateSeconds?.toFixed(1) ?? "–"} |`,
    );
  }
}
