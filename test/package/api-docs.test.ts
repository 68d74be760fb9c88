/**
 * `npm run docs` is the CI gate on the API reference (issue 16, item 5): it must cover every public
 * subpath and fail on an undocumented export or a broken {@link}. The gate is checked for real: TypeDoc
 * runs with this project's typedoc.json settings on a tiny temporary module, once with a missing doc
 * comment, once with a broken link, once with a guide linking to a missing file, once fully
 * documented, so a weakened typedoc.json fails here.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

interface TypedocConfig {
  entryPoints: string[];
  [option: string]: unknown;
}

const root = resolve(import.meta.dirname, "../..");
const config = JSON.parse(readFileSync(join(root, "typedoc.json"), "utf8")) as TypedocConfig;
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  exports: Record<string, string | { import: { types: string } }>;
  files: string[];
  scripts: Record<string, string>;
};
const typedocBin = join(root, "node_modules", "typedoc", "bin", "typedoc");
const dir = mkdtempSync(join(tmpdir(), "sk-api-docs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** TypeDoc with the project's validation settings on one temporary module; never writes HTML. */
function typedoc(source: string, guide?: string): Promise<{ code: number; output: string }> {
  const name = `m${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, `${name}.ts`), source);
  writeFileSync(
    join(dir, `${name}.tsconfig.json`),
    JSON.stringify({ compilerOptions: { strict: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", types: [] }, files: [`${name}.ts`] }),
  );
  // Only the checking settings: paths (entry points, guides, readme) belong to the real project.
  const { entryPoints: _e, out: _o, tsconfig: _t, intentionallyNotExported: _n, readme: _r, projectDocuments: _d, $schema: _s, ...settings } = config;
  const options = { ...settings, entryPoints: [`${name}.ts`], tsconfig: `${name}.tsconfig.json`, emit: "none", skipErrorChecking: true };
  if (guide !== undefined) {
    writeFileSync(join(dir, `${name}.guide.md`), guide);
    Object.assign(options, { projectDocuments: [`${name}.guide.md`] });
  }
  writeFileSync(join(dir, `${name}.typedoc.json`), JSON.stringify(options));
  return new Promise((done) => {
    execFile(process.execPath, [typedocBin, "--options", `${name}.typedoc.json`], { cwd: dir, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      done({ code, output: `${stdout}${stderr}`.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "") });
    });
  });
}

describe("API reference (npm run docs)", () => {
  it("has an entry point for every public subpath in package.json exports, and nothing else", () => {
    const fromExports = Object.entries(pkg.exports)
      .filter(([subpath]) => subpath !== "./package.json")
      .map(([, target]) => (typeof target === "string" ? target : target.import.types).replace(/^\.\/dist\//, "src/").replace(/\.d\.ts$/, ".ts"))
      .sort();
    expect(fromExports.length).toBeGreaterThanOrEqual(7);
    expect([...config.entryPoints].sort()).toEqual(fromExports);
  });

  it("is built by `npm run docs` and `npm test`, into a folder that is neither committed nor published", () => {
    expect(pkg.scripts.docs).toBe("typedoc");
    expect(pkg.scripts.test).toContain("npm run docs &&");
    expect(config.out).toBe("docs-api");
    expect(readFileSync(join(root, ".gitignore"), "utf8").split("\n")).toContain("docs-api/");
    expect(pkg.files).not.toContain("docs-api");
  });

  it("fails on an exported function without a doc comment", async () => {
    const result = await typedoc("/** Documented. */\nexport const ok = 1;\nexport function undocumented(): number {\n  return 1;\n}\n");
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/undocumented \((Function|CallSignature)\).*does not have any documentation/);
  });

  it("fails on an undocumented option (interface member)", async () => {
    const result = await typedoc("/** Options. */\nexport interface Options {\n  /** Documented. */\n  a?: number;\n  b?: string;\n}\n");
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/Options\.b \(Property\).*does not have any documentation/);
  });

  it("fails on a broken {@link}", async () => {
    const result = await typedoc("/** See {@link NoSuchThing}. */\nexport function linked(): number {\n  return 1;\n}\n");
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/Failed to resolve link to "NoSuchThing"/);
  });

  it("fails on a guide (projectDocuments) linking to a file that does not exist", async () => {
    const result = await typedoc("/** Documented. */\nexport const ok = 1;\n", "# Guide\n\nSee [the stores guide](no-such-guide.md).\n");
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/no-such-guide\.md is not a file/);
  });

  it("passes a fully documented module and a guide with good links (so the failures above are the checks, not the setup)", async () => {
    const result = await typedoc(
      "/**\n * A module.\n * @module fixture\n */\n/** Documented; see {@link Options}. */\nexport function documented(options: Options): number {\n  return options.a ?? 1;\n}\n/** Options. */\nexport interface Options {\n  /** Documented. */\n  a?: number;\n}\n",
      "# Guide\n\nSee [the options](#guide) and {@link documented}.\n",
    );
    expect(result.output).not.toMatch(/warning|error/i);
    expect(result.code).toBe(0);
  });
});
