import { defineConfig } from "tsup";

// One entry per public subpath: a user who never imports koa-sessionkit/redis never loads ioredis.
export default defineConfig({
  entry: {
    index: "src/index.ts",
    cli: "src/cli.ts",
    "stores/memory": "src/stores/memory.ts",
    "stores/redis": "src/stores/redis.ts",
    "stores/postgres": "src/stores/postgres.ts",
    "stores/sqlite": "src/stores/sqlite.ts",
    "auth/index": "src/auth/index.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  splitting: false,
  shims: false,
  external: ["koa", "ioredis", "pg", "better-sqlite3", "@node-rs/argon2", "bcryptjs"],
});
