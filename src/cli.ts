#!/usr/bin/env node
/**
 * `koa-sessionkit keys`: make and rotate session keys without copying crypto snippets around.
 * Keys are 32 random bytes, base64url, printed as one comma-separated line for an environment
 * variable; the first key signs and seals, every key verifies (see docs/keys.md).
 *
 * @example
 * npx koa-sessionkit keys                       # SESSION_KEYS=<new>,<new>
 * npx koa-sessionkit keys --rotate "$SESSION_KEYS" --max 3
 * npx koa-sessionkit keys --stage "$SESSION_KEYS"     # rolling deploys: new key last, then…
 * npx koa-sessionkit keys --promote "$SESSION_KEYS"   # …moved first in a second deploy
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

const KEY_BYTES = 32;
const MIN_KEY_BYTES = 32;

const HELP = `Usage: koa-sessionkit keys [options]

Print session keys as one comma-separated line, first key first (it signs and seals; all keys verify).

Options:
  --count N            how many fresh keys to print (default 2)
  --rotate "<keys>"    the current comma-separated keys: prints a new key first, then the current ones
  --stage "<keys>"     rolling deploys, step 1: the current keys, then a new key last (it verifies, not signs)
  --promote "<keys>"   rolling deploys, step 2: the staged (last) key moved first, so it signs
  --max N              with --rotate or --promote: keep at most N keys, dropping the oldest (default 3)
  -h, --help           show this help

Examples:
  SESSION_KEYS=$(npx koa-sessionkit keys)
  SESSION_KEYS=$(npx koa-sessionkit keys --rotate "$SESSION_KEYS")     # every instance switches at once
  SESSION_KEYS=$(npx koa-sessionkit keys --stage "$SESSION_KEYS")      # rolling: deploy this everywhere,
  SESSION_KEYS=$(npx koa-sessionkit keys --promote "$SESSION_KEYS")    # then this

In the app: app.keys = process.env.SESSION_KEYS!.split(",");
`;

/** A usage mistake: one line on stderr, exit code 1. */
class UsageError extends Error {}

function newKey(): string {
  return randomBytes(KEY_BYTES).toString("base64url");
}

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < 1 || number > 100) {
    throw new UsageError(`${name} must be a whole number from 1 to 100, got ${JSON.stringify(value)}`);
  }
  return number;
}

/**
 * Split the current list and check each key. Byte length is measured as the app will see it:
 * app.keys strings are used as UTF-8 bytes, so a 43-character base64url key counts as 43 bytes.
 */
function currentKeys(list: string, option: string): string[] {
  const keys = list.split(",").map((key) => key.trim()).filter((key) => key.length > 0);
  if (keys.length === 0) throw new UsageError(`--${option} needs the current keys, e.g. --${option} "$SESSION_KEYS"`);
  const short = keys
    .map((key, index) => ({ index, bytes: Buffer.byteLength(key, "utf8") }))
    .filter(({ bytes }) => bytes < MIN_KEY_BYTES);
  if (short.length > 0) {
    const which = short.map(({ index, bytes }) => `#${index + 1} (${bytes} bytes)`).join(", ");
    throw new UsageError(
      `key ${which} shorter than ${MIN_KEY_BYTES} bytes; replace the list with fresh keys from "npx koa-sessionkit keys" (users signed in under the short keys will have to sign in again)`,
    );
  }
  if (new Set(keys).size !== keys.length) throw new UsageError("the current keys contain a duplicate; remove it and rotate again");
  return keys;
}

/**
 * `--rotate "$SESSION_KEYS"` as `--rotate=<keys>`: a base64url key starts with "-" one time in 64,
 * and parseArgs refuses a separate value that looks like an option, so the README's rotation command
 * failed for those keys. A value that is one of our own options stays one (`--rotate --count 3` is
 * still "--rotate needs a value").
 */
const OPTION = /^(--(count|rotate|stage|promote|max|help)(=|$)|-h$)/;
const TAKES_KEYS = new Set(["--rotate", "--stage", "--promote"]);
function joinRotateValue(argv: readonly string[]): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = argv[i + 1];
    if (TAKES_KEYS.has(arg) && value !== undefined && !OPTION.test(value)) {
      args.push(`${arg}=${value}`);
      i++;
    } else args.push(arg);
  }
  return args;
}

function run(argv: readonly string[]): { stdout: string; stderr: string } {
  const { values, positionals } = parseArgs({
    args: joinRotateValue(argv),
    allowPositionals: true,
    strict: true,
    options: {
      count: { type: "string" },
      rotate: { type: "string" },
      stage: { type: "string" },
      promote: { type: "string" },
      max: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { stdout: HELP, stderr: "" };
  const [command, ...rest] = positionals;
  if (command !== "keys") {
    throw new UsageError(command === undefined ? 'missing command; try "koa-sessionkit keys"' : `unknown command ${JSON.stringify(command)}; the only command is "keys"`);
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);

  const given = (["rotate", "stage", "promote"] as const).filter((name) => values[name] !== undefined);
  if (given.length > 1) throw new UsageError(`--${given[0]} and --${given[1]} cannot be combined; run them one after the other`);
  if (given.length === 1 && values.count !== undefined) throw new UsageError(`--count and --${given[0]} cannot be combined; --${given[0]} works on the current keys`);
  if (values.rotate !== undefined) {
    const max = positiveInteger("--max", values.max, 3);
    const rotated = [newKey(), ...currentKeys(values.rotate, "rotate")].slice(0, max);
    return {
      stdout: `${rotated.join(",")}\n`,
      stderr: "New key first (it signs from now on); the others still verify. Deploy the new list to every instance at once (for a rolling deploy use --stage, then --promote); dropped keys log their users out.\n",
    };
  }
  if (values.stage !== undefined) {
    if (values.max !== undefined) throw new UsageError("--max applies to --promote, which drops the oldest keys; --stage keeps every key");
    const staged = [...currentKeys(values.stage, "stage"), newKey()];
    return {
      stdout: `${staged.join(",")}\n`,
      stderr: 'New key last: every instance can verify it, none signs with it yet. Deploy this list to every instance, then run --promote "$SESSION_KEYS" and deploy again.\n',
    };
  }
  if (values.promote !== undefined) {
    const keys = currentKeys(values.promote, "promote");
    if (keys.length < 2) throw new UsageError("--promote moves the last key first and needs at least two keys; stage one first with --stage");
    const max = positiveInteger("--max", values.max, 3);
    const promoted = [keys.at(-1) as string, ...keys.slice(0, -1)].slice(0, max);
    return {
      stdout: `${promoted.join(",")}\n`,
      stderr: "Staged key first: it signs from now on; the others still verify. Deploy this list (every instance already verifies the new key); dropped keys log their users out.\n",
    };
  }
  if (values.max !== undefined) throw new UsageError("--max only applies with --rotate or --promote");
  const count = positiveInteger("--count", values.count, 2);
  const keys = Array.from({ length: count }, newKey);
  return {
    stdout: `${keys.join(",")}\n`,
    stderr: 'Set it as an environment variable, e.g. SESSION_KEYS=<line above>, and use app.keys = process.env.SESSION_KEYS.split(",").\n',
  };
}

function main(): void {
  try {
    const { stdout, stderr } = run(process.argv.slice(2));
    process.stdout.write(stdout);
    if (stderr) process.stderr.write(stderr);
  } catch (err) {
    // parseArgs reports unknown options with a TypeError carrying an ERR_PARSE_ARGS_* code.
    const known = err instanceof UsageError || (err as { code?: unknown }).code?.toString().startsWith("ERR_PARSE_ARGS");
    if (!known) throw err;
    // parseArgs appends a paragraph about "--"; its first sentence is the useful part.
    const message = err instanceof UsageError ? err.message : ((err as Error).message.split(". ")[0] ?? "");
    process.stderr.write(`koa-sessionkit: ${message}; see koa-sessionkit --help\n`);
    process.exitCode = 1;
  }
}

main();
