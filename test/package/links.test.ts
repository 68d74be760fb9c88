/**
 * The npm package's Markdown (README, docs/, and the app and bench READMEs it links to) points only at
 * files the package holds: a user reading node_modules/koa-sessionkit/README.md can follow every link.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { describe, expect, it } from "vitest";

const packed = (JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { encoding: "utf8" })) as { files: { path: string }[] }[])[0]!.files.map((file) => file.path);

describe("links in the packed Markdown", () => {
  const pages = packed.filter((path) => path.endsWith(".md"));

  it("ships the READMEs the main README links to", () => {
    expect(pages).toEqual(expect.arrayContaining(["README.md", "app/README.md", "bench/README.md", "docs/auth.md"]));
  });

  it.each(pages)("%s links only to files in the package", (page) => {
    const text = readFileSync(page, "utf8");
    const targets = [...text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)].map((match) => match[1]!).filter((target) => !/^[a-z]+:/i.test(target));
    const missing = targets.filter((target) => !packed.includes(normalize(join(dirname(page), target))));
    expect(missing).toEqual([]);
  });
});
