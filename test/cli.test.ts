/**
 * The `koa-sessionkit keys` CLI, run as a user would: a child process, checking stdout (one line for
 * an env var), stderr (hints and errors) and the exit code.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { keyring } from "../src/crypto/keyring.js";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const KEY = /^[A-Za-z0-9_-]{43}$/;

interface Result {
  stdout: string;
  stderr: string;
  code: number;
}

async function cli(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", CLI, ...args]);
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const failed = err as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

function keysOf(stdout: string): string[] {
  expect(stdout.endsWith("\n")).toBe(true);
  expect(stdout.trimEnd().includes("\n")).toBe(false); // one line, ready for SESSION_KEYS=...
  return stdout.trim().split(",");
}

describe("koa-sessionkit keys", () => {
  it("starts with a node shebang", () => {
    expect(readFileSync(CLI, "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
  });

  it("prints two fresh 32-byte base64url keys by default, with a hint on stderr", async () => {
    const { stdout, stderr, code } = await cli("keys");
    expect(code).toBe(0);
    const keys = keysOf(stdout);
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      expect(key).toMatch(KEY);
      expect(Buffer.from(key, "base64url")).toHaveLength(32);
    }
    expect(new Set(keys).size).toBe(2);
    expect(stderr).toContain("SESSION_KEYS=");
    // What it prints is accepted as app.keys.
    expect(keyring(keys).length).toBe(2);
  });

  it("--count N prints N keys, different on every run", async () => {
    const first = keysOf((await cli("keys", "--count", "5")).stdout);
    const second = keysOf((await cli("keys", "--count=5")).stdout);
    expect(first).toHaveLength(5);
    expect(new Set([...first, ...second]).size).toBe(10);
    expect(keysOf((await cli("keys", "--count", "1")).stdout)).toHaveLength(1);
  });

  it("--rotate puts a new key first and keeps the current ones in order", async () => {
    const current = keysOf((await cli("keys")).stdout);
    const { stdout, stderr, code } = await cli("keys", "--rotate", current.join(","));
    expect(code).toBe(0);
    const rotated = keysOf(stdout);
    expect(rotated).toHaveLength(3);
    expect(rotated[0]).toMatch(KEY);
    expect(current).not.toContain(rotated[0]);
    expect(rotated.slice(1)).toEqual(current);
    expect(stderr).toMatch(/new key first/i);
  });

  it("--rotate takes keys that start with a dash (one base64url key in 64 does), as README's command passes them", async () => {
    const current = [`-${"a".repeat(42)}`, `--${"b".repeat(41)}`];
    const { stdout, code, stderr } = await cli("keys", "--rotate", current.join(","));
    expect(stderr).not.toMatch(/ambiguous/);
    expect(code).toBe(0);
    expect(keysOf(stdout).slice(1)).toEqual(current);
    // An option of ours right after --rotate is still read as a missing value, not as keys.
    expect((await cli("keys", "--rotate", "--count", "3")).code).toBe(1);
  });

  it("--rotate drops the oldest keys beyond --max (default 3)", async () => {
    const current = keysOf((await cli("keys", "--count", "3")).stdout);
    const rotated = keysOf((await cli("keys", "--rotate", current.join(","))).stdout);
    expect(rotated).toHaveLength(3);
    expect(rotated.slice(1)).toEqual(current.slice(0, 2));

    const two = keysOf((await cli("keys", "--rotate", current.join(","), "--max", "2")).stdout);
    expect(two).toHaveLength(2);
    expect(two[1]).toBe(current[0]);

    const one = keysOf((await cli("keys", "--rotate", current.join(", "), "--max", "1")).stdout);
    expect(one).toHaveLength(1);
    expect(current).not.toContain(one[0]);
  });

  it("--stage then --promote: during each rolling deploy, old and new instances verify each other's cookies", async () => {
    const current = keysOf((await cli("keys")).stdout);
    const staged = await cli("keys", "--stage", current.join(","));
    expect(staged.code).toBe(0);
    expect(staged.stderr).toMatch(/New key last.*then run --promote/);
    const stage = keysOf(staged.stdout);
    expect(stage.slice(0, 2)).toEqual(current);
    expect(stage).toHaveLength(3);
    const promoted = await cli("keys", "--promote", stage.join(","));
    const promote = keysOf(promoted.stdout);
    expect(promote).toEqual([stage[2], current[0], current[1]]);
    // Deploy 1 (current → stage) and deploy 2 (stage → promote): in each, instances on either list
    // verify what the other signs, so nobody is logged out mid-deploy.
    for (const [before, after] of [[current, stage], [stage, promote]] as const) {
      const [a, b] = [keyring(before), keyring(after)];
      expect(b.index("koa.sess=x", a.sign("koa.sess=x"))).toBeGreaterThanOrEqual(0);
      expect(a.index("koa.sess=x", b.sign("koa.sess=x"))).toBeGreaterThanOrEqual(0);
    }
    // --rotate's one-step list is not verified by instances still on the old one.
    const rotated = keysOf((await cli("keys", "--rotate", current.join(","))).stdout);
    expect(keyring(current).index("koa.sess=x", keyring(rotated).sign("koa.sess=x"))).toBe(-1);
    expect((await cli("keys", "--promote", stage.join(","), "--max", "2")).stdout.trim().split(",")).toEqual([stage[2], current[0]]);
  });

  it("--rotate refuses keys shorter than 32 bytes and says how to fix it", async () => {
    const good = keysOf((await cli("keys", "--count", "1")).stdout)[0] as string;
    const { stdout, stderr, code } = await cli("keys", "--rotate", `${good},too-short`);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^koa-sessionkit: /);
    expect(stderr).toContain("#2 (9 bytes)");
    expect(stderr).toContain("npx koa-sessionkit keys");
  });

  it("--help prints usage and exits 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const { stdout, code } = await cli(flag);
      expect(code).toBe(0);
      expect(stdout).toContain("Usage: koa-sessionkit keys");
      expect(stdout).toContain("--rotate");
      expect(stdout).toContain("--max");
    }
  });

  it("unknown or bad arguments give one clear error line and exit code 1", async () => {
    const cases: [string[], RegExp][] = [
      [["keys", "--bogus"], /Unknown option '--bogus'/],
      [["generate"], /unknown command "generate"/],
      [[], /missing command/],
      [["keys", "extra"], /unexpected argument "extra"/],
      [["keys", "--count", "zero"], /--count must be a whole number/],
      [["keys", "--count", "0"], /--count must be a whole number/],
      [["keys", "--count"], /argument missing/],
      [["keys", "--max", "2"], /--max only applies with --rotate or --promote/],
      [["keys", "--stage", "a".repeat(40), "--max", "2"], /--stage keeps every key/],
      [["keys", "--promote", "a".repeat(40)], /needs at least two keys/],
      [["keys", "--stage", "a".repeat(40), "--promote", "b".repeat(40)], /cannot be combined/],
      [["keys", "--rotate", ""], /--rotate needs the current keys/],
      [["keys", "--rotate", "a".repeat(40), "--count", "2"], /cannot be combined/],
    ];
    for (const [args, message] of cases) {
      const { stdout, stderr, code } = await cli(...args);
      expect(code, args.join(" ")).toBe(1);
      expect(stdout).toBe("");
      const lines = stderr.trim().split("\n");
      expect(lines, args.join(" ")).toHaveLength(1);
      expect(lines[0]).toMatch(/^koa-sessionkit: /);
      expect(lines[0]).toMatch(message);
    }
  });
});
