/**
 * ioredis 5 (the `ioredis` dev dependency) and ioredis 6 (the `ioredis6` npm alias), so the Redis
 * suites run on both majors of the peer range. Each entry checks its own version at load, so a
 * lockfile that quietly resolved the alias to 5 fails the run instead of testing 5 twice.
 *
 * Types: a v6 client is typed against v6's declarations, and RedisStore's are compiled against v5
 * here, so v6 clients are cast; in a user's project both sides resolve to the one installed ioredis.
 */
import { createRequire } from "node:module";
import * as ioredis5 from "ioredis";
import * as ioredis6 from "ioredis6";

const require = createRequire(import.meta.url);

export interface IoredisVersion {
  name: string;
  /** ioredis's Redis class; instances are typed as v5 clients (see the note above). */
  Redis: typeof ioredis5.Redis;
  Cluster: typeof ioredis5.Cluster;
}

function checked(name: string, packageName: string, major: number): void {
  const { version } = require(`${packageName}/package.json`) as { version: string };
  if (Number(version.split(".")[0]) !== major) throw new Error(`${packageName} is ${version}, expected ioredis ${major}.x for "${name}"`);
}

checked("ioredis 5", "ioredis", 5);
checked("ioredis 6", "ioredis6", 6);

export const IOREDIS_VERSIONS: IoredisVersion[] = [
  { name: "ioredis 5", Redis: ioredis5.Redis, Cluster: ioredis5.Cluster },
  { name: "ioredis 6", Redis: ioredis6.Redis as unknown as typeof ioredis5.Redis, Cluster: ioredis6.Cluster as unknown as typeof ioredis5.Cluster },
];
