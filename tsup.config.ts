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
    "auth/index": "src/auth/index.ts",
  },
  dts: true,
  sourcemap: true,
  target: "node20",
  shims: false,
  external: ["koa", "ioredis", "pg", "better-sqlite3", "@node-rs/argon2", "bcryptjs"],
};

export default defineConfig([
  // ESM: shared chunks, so each class exists once and `koa-sessionkit` and `koa-sessionkit/memory`
  // hand out the same MemoryStore.
  { ...shared, format: ["esm"], splitting: true, clean: true },
  // CommonJS: tsup's CJS code splitting is experimental and leaves `import.meta` in shared chunks,
  // which CommonJS can't parse; each entry is self-contained instead. Cross-entry state goes through
  // Symbol.for keys and error codes (docs/architecture.md), so the copies still cooperate.
  { ...shared, format: ["cjs"], splitting: false, clean: false },
]);
