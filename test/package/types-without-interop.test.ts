/**
 * The published type declarations read under any TypeScript setup a Koa app may have, including
 * CommonJS with node10 resolution and no esModuleInterop (`import Koa = require("koa")`), with
 * skipLibCheck off, exactOptionalPropertyTypes on, and for an app with its own context type. koa-session's types pass there; ours
 * once began with `import Koa from 'koa'` (TS1259 without esModuleInterop).
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/services.js";

const run = promisify(execFile);
const root = resolve(".");
const built = requireTool(existsSync("dist/index.d.ts"), "dist/ is not built", "Run `npm run build` (npm test does it first).");
const dir = mkdtempSync(join(tmpdir(), "sk-types-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!built)("the published .d.ts", () => {
  it("compiles in a CommonJS project without esModuleInterop, skipLibCheck off, exact optional types, custom context type", async () => {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(root, join(dir, "node_modules", "koa-sessionkit"));
    for (const name of ["@types", "koa"]) symlinkSync(join(root, "node_modules", name), join(dir, "node_modules", name));
    writeFileSync(
      join(dir, "app.ts"),
      `import Koa = require("koa");
import { session } from "koa-sessionkit";
// Subpaths: node10 resolution has no "exports"; package.json's typesVersions points it at the types.
import { login, requireAuth } from "koa-sessionkit/auth";
import type { SqliteStoreOptions } from "koa-sessionkit/sqlite";
import type { RedisStoreOptions } from "koa-sessionkit/redis";
import type { PostgresStoreOptions } from "koa-sessionkit/postgres";
import type { MemoryStoreOptions } from "koa-sessionkit/memory";
import type { ConnectStoreLike } from "koa-sessionkit/connect";
const subpaths: [SqliteStoreOptions?, RedisStoreOptions?, PostgresStoreOptions?, MemoryStoreOptions?, ConnectStoreLike?] = [];
void subpaths;
interface AppContext extends Koa.DefaultContext { log(message: string): void }
const app = new Koa<Koa.DefaultState, AppContext>();
app.keys = ["a key of at least thirty-two bytes, honestly"];
app.use(session({ maxAge: 60_000 }, app));
// exactOptionalPropertyTypes: an option left undefined by configuration is accepted, as koa-session accepts it.
const env: Record<string, string | undefined> = process.env;
app.use(session({ maxAge: env.TTL ? Number(env.TTL) : undefined, secure: env.PROD ? true : undefined, sameSite: env.SAMESITE, prefix: env.PREFIX, key: env.COOKIE, store: undefined, genid: undefined }, app));
app.use(requireAuth());
app.use(async (ctx) => { ctx.session.views = (ctx.session.views || 0) + 1; ctx.log("ok"); await login(ctx, { id: "1" }); });
`,
    );
    const compilerOptions = { strict: true, exactOptionalPropertyTypes: true, module: "commonjs", moduleResolution: "node10", target: "ES2022", noEmit: true, types: ["node"], skipLibCheck: false };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["app.ts"] }));
    const output = await run(join(root, "node_modules", ".bin", "tsc"), ["-p", dir]).then(
      (result) => result.stdout,
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    // Only our files and the app count: @types/koa's own internals are not ours to judge here.
    // tsc prints each error's file relative to the working directory (this repository's dist/).
    const ours = output.split("\n").filter((line) => line.includes("app.ts(") || line.startsWith("dist/"));
    expect(ours).toEqual([]);
  });
});
