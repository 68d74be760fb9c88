/**
 * The TypeScript snippets of the README and the guides compile against the published types, under
 * `strict`: a snippet is a promise a user copies. Snippets are fragments of an app, so the names
 * they use without defining (`app`, `store`, `router`, your `users` table…) are declared around them
 * here, with real types where the package is involved; everything else must import what it uses.
 * `npm test` builds dist/ (lint:package) before the test runner starts.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const built = existsSync("dist/index.d.ts");
if (!built) console.warn("\n  SKIPPED: dist/ is not built; run `npm run build` (npm test does it first).\n");
if (!built && process.env.CI === "true") throw new Error("dist/ is missing under CI=true; npm test builds it before the tests");

const DOCS = ["README.md", "app/README.md", "docs/auth.md", "docs/keys.md", "docs/stores.md", "docs/observability.md", "docs/deployment.md", "docs/migrating-from-koa-session.md"];

/** What an app around a snippet would have; declared only when the snippet uses the name and does not define it. */
const CONTEXT: Record<string, string> = {
  app: 'import type KoaApp__ from "koa"; declare const app: KoaApp__;',
  session: 'import session from "koa-sessionkit";',
  store: 'declare const store: import("koa-sessionkit").SessionStore;',
  router: 'import "@koa/bodyparser"; import type Router__ from "@koa/router"; declare const router: Router__;',
  ctx: 'declare const ctx: import("koa").Context;',
  throttle: 'declare const throttle: import("koa-sessionkit/auth").LoginThrottle;',
  redis: 'declare const redis: import("ioredis").Redis;',
  sentinels: "declare const sentinels: { host: string; port: number }[];",
  email: "declare const email: string;",
  host: "declare const host: string;",
  password: "declare const password: string;",
  database: "declare const database: string;",
  // The app's own code, which the guides leave to you.
  users:
    "declare const users: { sessionsValidAfter(id: string): Promise<number | undefined>; setSessionsValidAfter(id: string, at: number): Promise<void>; findByEmail(email: string): Promise<{ id: string; hash: string; role: string } | undefined> };",
  user: "declare const user: { id: string };",
  // docs/observability.md spells out the AuditEvent interface with the package's own name type.
  AuditEventName: 'type AuditEventName = import("koa-sessionkit/auth").AuditEventName;',
  checkPassword: "declare function checkPassword(email: string, password: string): Promise<boolean>;",
};

interface Snippet {
  file: string;
  index: number;
  code: string;
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const file of DOCS) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    let index = 0;
    for (const match of text.matchAll(/```ts\n([\s\S]*?)```/g)) out.push({ file, index: index++, code: match[1] as string });
  }
  return out;
}

function withContext(code: string): string {
  const imported = new Set<string>();
  for (const match of code.matchAll(/import\s+(?:type\s+)?([^;]*?)\s+from\s/g)) {
    for (const name of (match[1] as string).matchAll(/[A-Za-z_$][\w$]*/g)) imported.add(name[0]);
  }
  const defined = new Set([...code.matchAll(/(?:const|let|function|class)\s+([A-Za-z_$][\w$]*)/g)].map((m) => m[1] as string));
  const lines = Object.entries(CONTEXT)
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(code) && !imported.has(name) && !defined.has(name))
    .map(([, declaration]) => declaration);
  return `${lines.join("\n")}\n${code}\nexport {};\n`;
}

// Inside the repository, so `koa-sessionkit` resolves to this package's exports (dist/ types) and
// the dev dependencies (pino, express-session…) are found.
const dir = mkdtempSync(join(process.cwd(), ".doc-snippets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!built)("documentation snippets", () => {
  const all = snippets();

  it("there are snippets to check", () => {
    expect(all.length).toBeGreaterThanOrEqual(20);
  });

  it("every ```ts snippet compiles under strict against the published types", async () => {
    const names: string[] = [];
    for (const snippet of all) {
      const name = `${snippet.file.replace(/[/.]/g, "_")}_${snippet.index}.ts`;
      writeFileSync(join(dir, name), withContext(snippet.code));
      names.push(name);
    }
    // What docs/stores.md tells a TypeScript user to add: express-mysql-session ships no types.
    writeFileSync(join(dir, "shims.d.ts"), 'declare module "express-mysql-session";\n');
    names.push("shims.d.ts");
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: ["node"] },
        files: names,
      }),
    );
    const result = await run(process.execPath, ["node_modules/typescript/bin/tsc", "-p", join(dir, "tsconfig.json")]).then(
      () => "",
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(result).toBe("");
  }, 120_000);
});
