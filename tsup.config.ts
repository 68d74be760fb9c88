import { defineConfig, type Options } from "tsup";

// One entry per public subpath: a user who never imports koa-sessionkit/redis never loads ioredis.
const shared: Options = {
  entry: {
    index: "src/index.ts",
    cli: "src/cli.ts",
    "stores/memory": "src/stores/memory.ts",
    "stores/redis": "src/stores/redis.ts",
    "stores/postgres": "src/stores/postgres.ts",
    "stores/sqlite": "src/stores/sqlite.ts",
    "stores/connect": "src/stores/connect.ts",
    "auth/index": "src/auth/index.ts",
  },
  dts: true,
  sourcemap: true,
  target: "node20",
  // Class names survive bundling: errors thrown from require("koa-sessionkit") say
  // "SessionConfigError", not the "_class2" that the CommonJS transform would leave.
  keepNames: true,
  external: ["koa", "ioredis", "pg", "better-sqlite3", "@node-rs/argon2", "bcryptjs", "@opentelemetry/api"],
};

export default defineConfig([
  // Both formats share chunks, so each class exists once: `koa-sessionkit` and
  // `koa-sessionkit/memory` hand out the same MemoryStore, from import and from require alike.
  { ...shared, format: ["esm"], splitting: true, clean: true },
  // tsup builds CommonJS chunks from ESM ones; `shims` turns the one `import.meta.url` (peer.ts)
  // into a __filename-based URL first, since CommonJS can't parse import.meta.
  { ...shared, format: ["cjs"], splitting: true, shims: true, clean: false },
]);
