/**
 * The benchmark's PostgreSQL tables (cases.ts names them): dropped before a run (a clean start) and
 * after it, by `npm run bench` and by `--profile`, so the shared database keeps nothing of ours.
 */
import pg from "pg";
import { PG_TABLE_CONNECT, PG_TABLE_SESSIONKIT } from "./cases.js";

export const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Drop our tables; undefined when that worked, else why PostgreSQL can't be used. */
export async function dropPgTables(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS ${PG_TABLE_SESSIONKIT}, ${PG_TABLE_CONNECT}`);
    return undefined;
  } catch (error) {
    return `PostgreSQL not reachable: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}
