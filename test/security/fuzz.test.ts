/**
 * Property-based fuzzing of everything a client controls: the Cookie header, over real HTTP (store
 * mode and cookie mode, on a keep-alive agent, 16 requests in flight), and the parsers directly
 * (Sealer.open, Keyring.index, safeParse/parseStored, readSessionId).
 *
 * Properties, for every generated input:
 *   - no 5xx and nothing thrown;
 *   - a session is accepted only when the request carries, first, an issued id with a signature of
 *     the issued MAC bytes (store mode) or an issued sealed / koa-session token (cookie mode);
 *   - an untampered issued cookie IS accepted (so the oracle is not vacuous);
 *   - no prototype changes: Object.prototype & co. unchanged, `({}).pwned` undefined, and the
 *     session's prototype is still Session.prototype, even after a naive for…in deep copy of its data.
 *
 * Seeds: a fixed one plus a random one that is printed; FUZZ_SEED=<n> replaces the random one.
 */
import { createHmac, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Cookies from "cookies";
import fc from "fast-check";
import Koa, { type Context } from "koa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import session, { Keyring, MemoryStore, RAW_JSON, Session, storeKeyFor, type SessionStore, type StoredSession } from "../../src/index.js";
import { Sealer } from "../../src/crypto/seal.js";
import { isDangerousKey, parseStored, safeParse } from "../../src/stores/json.js";
import { requestCookie } from "../../src/session/cookies.js";
import { readSessionId } from "../../src/session/load.js";
import { resolveOptions } from "../../src/session/options.js";

const KEY1 = "fuzz-key-1-0123456789abcdef0123456789abcdef";
const KEY2 = "fuzz-key-2-fedcba9876543210fedcba9876543210";
const NAME = "koa.sess";
const FIXED_SEED = 20240607;
const RANDOM_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomBytes(4).readInt32LE(0);
const SEEDS = [FIXED_SEED, RANDOM_SEED];
/** Requests in flight at once, and so the batch size of one property run. */
const CONCURRENCY = 16;
/** Property runs per HTTP mode and seed: 2 modes × 2 seeds × 320 × 16 = 20,480 cookies over HTTP. */
const HTTP_RUNS = 320;
const PARSER_RUNS = 4000;
const FUTURE = Date.now() + 3_600_000;

console.log(`fuzz seeds: fixed ${FIXED_SEED}, random ${RANDOM_SEED} (replay with FUZZ_SEED=${RANDOM_SEED})`);

// ------------------------------------------------------------------------------------------ helpers

function isHeaderChar(code: number): boolean {
  return code === 0x09 || (code >= 0x20 && code <= 0x7e) || (code >= 0x80 && code <= 0xff);
}

/** Bytes as a Cookie header can carry them (latin1); the few bytes HTTP forbids become printable. */
function headerSafe(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += String.fromCharCode(isHeaderChar(byte) ? byte : 0x21 + (byte % 0x5e));
  return out;
}

type Mutation = "flip" | "drop" | "insert";

/** One flipped bit, one dropped character or one inserted character. */
function mutate(value: string, op: Mutation, position: number, bit: number, inserted: number): string {
  if (value.length === 0) return String.fromCharCode(inserted);
  if (op === "insert") {
    const i = position % (value.length + 1);
    return value.slice(0, i) + String.fromCharCode(inserted) + value.slice(i);
  }
  const i = position % value.length;
  if (op === "drop") return value.slice(0, i) + value.slice(i + 1);
  const code = value.charCodeAt(i) ^ (1 << bit);
  return value.slice(0, i) + (isHeaderChar(code) ? String.fromCharCode(code) : "%") + value.slice(i + 1);
}

/** Deterministic filler for huge values (fast-check strings of 8 kB are slow to generate and shrink). */
function filler(length: number, seed: number, alphabet: string): string {
  let state = seed >>> 0 || 1;
  let out = "";
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out += alphabet[(state >>> 16) % alphabet.length];
  }
  return out;
}
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The value the `cookies` module reads for `name`: the first match, surrounding quotes dropped. */
function firstCookie(header: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|;) *${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}=([^;]*)`).exec(header);
  if (!match) return undefined;
  const value = match[1] as string;
  return value[0] === '"' ? value.slice(1, -1) : value;
}

function keygrip(data: string, key: string): string {
  return createHmac("sha1", key).update(data).digest("base64url");
}

/** A naive deep copy (for…in + assignment), the pattern that turns a `__proto__` key into pollution. */
function naiveDeepCopy(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const key in source) {
    const value = source[key];
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      if (typeof target[key] !== "object" || target[key] === null) target[key] = {};
      naiveDeepCopy(target[key] as Record<string, unknown>, value as Record<string, unknown>);
    } else {
      target[key] = value;
    }
  }
}

function hasDangerousKeyDeep(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (!Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype) return true;
  for (const key of Object.getOwnPropertyNames(value)) {
    if (isDangerousKey(key)) return true;
    if (hasDangerousKeyDeep((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** Every object in a parsed JSON tree has Object.prototype (or Array.prototype) as prototype. */
function prototypesPlain(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype) return false;
  return Object.values(value).every(prototypesPlain);
}

const PROTOTYPES: [string, object][] = [
  ["Object", Object.prototype],
  ["Array", Array.prototype],
  ["Function", Function.prototype],
  ["String", String.prototype],
  ["Session", Session.prototype],
];
const snapshot = () => PROTOTYPES.map(([name, proto]) => `${name}:${Reflect.ownKeys(proto).map(String).sort().join(",")}`).join("\n");
const PROTOTYPE_SNAPSHOT = snapshot();

function assertNoPollution(): void {
  expect(snapshot()).toBe(PROTOTYPE_SNAPSHOT);
  expect(({} as Record<string, unknown>).pwned).toBeUndefined();
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
}

// ------------------------------------------------------------------------------------- JSON texts

const DANGEROUS_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "\\u005f_proto__",
  "__pro\\u0074o__",
  "\\u005F\\u005Fproto\\u005F\\u005F",
  "constructo\\u0072",
  "protot\\u0079pe",
];
/** Raw JSON key text: dangerous names (some spelled with escapes), API names, ordinary strings. */
const jsonKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...DANGEROUS_KEYS) },
  { weight: 2, arbitrary: fc.constantFrom("pwned", "save", "isNew", "toJSON", "toString", "hasOwnProperty", "valueOf", "_sk", "_expire") },
  { weight: 2, arbitrary: fc.string({ maxLength: 8 }).map((text) => JSON.stringify(text).slice(1, -1)) },
);
const pollutingValue = fc.constantFrom('{"pwned":"yes"}', '{"prototype":{"pwned":"yes"}}', '"yes"', "1", "null", '{"toString":"x"}');
const { json: jsonValue } = fc.letrec<{ json: string; object: string; array: string }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.oneof(fc.integer().map(String), fc.boolean().map(String), fc.constant("null"), fc.string({ maxLength: 10 }).map((text) => JSON.stringify(text))),
    pollutingValue,
    tie("object"),
    tie("array"),
  ),
  object: fc
    .array(fc.tuple(jsonKey, tie("json")), { maxLength: 5 })
    .map((entries) => `{${entries.map(([key, value]) => `"${key}":${value}`).join(",")}}`),
  array: fc.array(tie("json"), { maxLength: 3 }).map((items) => `[${items.join(",")}]`),
}));
/** Object members (without braces) full of dangerous keys, to splice into a session's JSON. */
const hostileMembers = fc
  .array(fc.tuple(jsonKey, fc.oneof(pollutingValue, jsonValue)), { minLength: 1, maxLength: 6 })
  .map((entries) => entries.map(([key, value]) => `"${key}":${value}`).join(","));

// ---------------------------------------------------------------------------------------- servers

interface Reply {
  status: number;
  userId: string | null;
  protoOk: boolean;
  pwned: boolean;
}

/** The probe: reports the session's userId and whether anything looks polluted. Never writes. */
const probe: Koa.Middleware = (ctx) => {
  if (ctx.path === "/issue") {
    const userId = String(ctx.query.u);
    ctx.session = { userId, role: "user" };
    ctx.body = { ok: true };
    return;
  }
  const current = ctx.session;
  const userId = current && typeof current.userId === "string" ? current.userId : null;
  let protoOk = true;
  let pwned = false;
  if (current) {
    protoOk = Object.getPrototypeOf(current) === Session.prototype && typeof current.save === "function" && typeof current.toJSON === "function";
    // An own "pwned" key is the client's data; an inherited one, or a nested object whose prototype
    // is not Object.prototype, is pollution.
    pwned = (!Object.hasOwn(current, "pwned") && (current as Record<string, unknown>).pwned !== undefined) || !prototypesPlain(current.toJSON());
    // What careless app code might do with the data: it must not pollute anything either.
    naiveDeepCopy({}, current.toJSON());
  }
  pwned ||= ({} as Record<string, unknown>).pwned !== undefined;
  ctx.body = { userId, protoOk, pwned };
};

interface Served {
  port: number;
  errors: unknown[];
  server: http.Server;
}

async function serve(app: Koa): Promise<Served> {
  const errors: unknown[] = [];
  app.silent = true;
  app.on("error", (err: unknown) => errors.push(err));
  app.use(probe);
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, errors, server };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function send(port: number, path: string, cookie: string | undefined): Promise<{ status: number; body: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: "127.0.0.1", port, path, agent, headers: cookie === undefined ? {} : { cookie } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), setCookie: response.headers["set-cookie"] ?? [] }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end();
  });
}

async function ask(port: number, cookie: string | undefined): Promise<Reply> {
  const response = await send(port, "/probe", cookie);
  if (response.status >= 500) return { status: response.status, userId: null, protoOk: true, pwned: false };
  const body = JSON.parse(response.body) as Omit<Reply, "status">;
  return { status: response.status, ...body };
}

function cookieValues(setCookie: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of setCookie) {
    const pair = line.split(";")[0] ?? "";
    const eq = pair.indexOf("=");
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

// ---------------------------------------------------------------------------------- the two modes

/** A cookie the server (or, for the injected ones, the server's store/keys) legitimately issued. */
interface Issued {
  userId: string;
  /** Store mode: the id. Cookie mode: the sealed token, or the koa-session base64 JSON. */
  value: string;
  /** Store mode and koa-session: the signature companion. */
  sig: string | undefined;
  header: string;
}

interface Mode {
  name: "store" | "cookie";
  served: Served;
  pool: Issued[];
  /** Issued cookies by userId, including injected ones. */
  byUser: Map<string, Issued>;
  /** Accepted: true when the request's first session cookie (and signature) is exactly this issue. */
  matches(header: string, issued: Issued): boolean;
  /** A hostile-but-legitimately-issued cookie: session JSON the app never wrote, under valid keys. */
  inject(members: string, serial: number, variant: number): Issued;
}

const keyring = new Keyring([KEY1, KEY2]);
const sealer = new Sealer(keyring);
const macBytes = (sig: string | undefined) => (sig === undefined ? undefined : Buffer.from(sig, "base64url"));
const sameMac = (a: string | undefined, b: string | undefined) => {
  const x = macBytes(a);
  const y = macBytes(b);
  return x !== undefined && y !== undefined && x.equals(y);
};

let storeMode: Mode;
let cookieMode: Mode;
let sentOverHttp = 0;
let acceptedOverHttp = 0;

/** A foreign store (koa-redis style): hands back JSON.parse results, own `__proto__` keys and all. */
class RawTextStore implements SessionStore {
  readonly texts = new Map<string, string>();
  get(key: string): StoredSession | null {
    const text = this.texts.get(key);
    return text === undefined ? null : (JSON.parse(text) as StoredSession);
  }
  set(key: string, stored: StoredSession): void {
    this.texts.set(key, JSON.stringify(stored));
  }
  destroy(key: string): void {
    this.texts.delete(key);
  }
}

async function issue(served: Served, userId: string): Promise<Map<string, string>> {
  const response = await send(served.port, `/issue?u=${encodeURIComponent(userId)}`, undefined);
  expect(response.status).toBe(200);
  return cookieValues(response.setCookie);
}

beforeAll(async () => {
  // Store mode: MemoryStore (parses its own JSON text), plus a foreign raw-text store behind a prefix.
  const memory = new MemoryStore({ max: 100_000 });
  const raw = new RawTextStore();
  // The foreign store answers for the keys it holds; everything else (the issued sessions) is in memory.
  const routed: SessionStore = {
    get: (key) => (raw.texts.has(key) ? raw.get(key) : memory.get(key)),
    set: (key, stored, maxAge) => memory.set(key, stored, maxAge),
    destroy: (key) => {
      raw.destroy(key);
      memory.destroy(key);
    },
  };
  const storeApp = new Koa();
  storeApp.keys = [KEY1, KEY2];
  storeApp.use(session({ store: routed, key: NAME }, storeApp));
  const storeServed = await serve(storeApp);
  const storePool: Issued[] = [];
  for (let i = 0; i < 24; i++) {
    const userId = `store-user-${i}`;
    const set = await issue(storeServed, userId);
    const value = set.get(NAME) as string;
    const sig = set.get(`${NAME}.sig`) as string;
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    storePool.push({ userId, value, sig, header: `${NAME}=${value}; ${NAME}.sig=${sig}` });
  }
  storeMode = {
    name: "store",
    served: storeServed,
    pool: storePool,
    byUser: new Map(storePool.map((entry) => [entry.userId, entry])),
    matches: (header, issued) => firstCookie(header, NAME) === issued.value && sameMac(firstCookie(header, `${NAME}.sig`), issued.sig),
    inject(members, serial, variant) {
      const userId = `injected-${serial}`;
      const id = randomBytes(32).toString("base64url");
      const text = `{${members},"_expire":${FUTURE},"_maxAge":3600000,"userId":"${userId}"}`;
      if (variant % 2 === 0) {
        // MemoryStore keeps the text and parses it on get.
        memory.set(storeKeyFor(id), { [RAW_JSON]: text } as unknown as StoredSession, 3_600_000);
      } else {
        // The foreign store hands back JSON.parse(text), own __proto__ keys and all.
        raw.texts.set(storeKeyFor(id), text);
      }
      const sig = keyring.sign(`${NAME}=${id}`);
      const issued: Issued = { userId, value: id, sig, header: `${NAME}=${id}; ${NAME}.sig=${sig}` };
      this.byUser.set(userId, issued);
      return issued;
    },
  };

  // Cookie mode, accepting koa-session's base64 JSON cookies once (legacy).
  const cookieApp = new Koa();
  cookieApp.keys = [KEY1, KEY2];
  cookieApp.use(session({ mode: "cookie", key: NAME, legacy: "koa-session" }, cookieApp));
  const cookieServed = await serve(cookieApp);
  const cookiePool: Issued[] = [];
  for (let i = 0; i < 24; i++) {
    const userId = `cookie-user-${i}`;
    const value = (await issue(cookieServed, userId)).get(NAME) as string;
    expect(value.startsWith("v1.")).toBe(true);
    cookiePool.push({ userId, value, sig: undefined, header: `${NAME}=${value}` });
  }
  cookieMode = {
    name: "cookie",
    served: cookieServed,
    pool: cookiePool,
    byUser: new Map(cookiePool.map((entry) => [entry.userId, entry])),
    matches: (header, issued) =>
      firstCookie(header, NAME) === issued.value && (issued.sig === undefined || sameMac(firstCookie(header, `${NAME}.sig`), issued.sig)),
    inject(members, serial, variant) {
      const userId = `injected-${serial}`;
      const text = `{${members},"_expire":${FUTURE},"_maxAge":3600000,"userId":"${userId}"}`;
      let issued: Issued;
      if (variant % 2 === 0) {
        // Sealed with the server's keys: as if the server had written this payload.
        const value = sealer.seal(text, NAME, Date.now(), FUTURE);
        issued = { userId, value, sig: undefined, header: `${NAME}=${value}` };
      } else {
        // koa-session 7's cookie format: base64 JSON, Keygrip (HMAC-SHA1) signature.
        const value = Buffer.from(text, "utf8").toString("base64");
        const sig = keygrip(`${NAME}=${value}`, KEY1);
        issued = { userId, value, sig, header: `${NAME}=${value}; ${NAME}.sig=${sig}` };
      }
      this.byUser.set(userId, issued);
      return issued;
    },
  };
});

afterAll(async () => {
  agent.destroy();
  for (const mode of [storeMode, cookieMode]) {
    if (mode) await new Promise<void>((resolve) => mode.served.server.close(() => resolve()));
  }
});

// ---------------------------------------------------------------------------------- cookie cases

type Case =
  | { kind: "header"; label: string; header: string }
  | { kind: "valid"; index: number }
  | { kind: "inject"; members: string; variant: number; tamper: boolean };

function cases(mode: Mode): fc.Arbitrary<Case> {
  const pick = (index: number) => mode.pool[index % mode.pool.length] as Issued;
  const signatureName = `${NAME}.sig`;
  const bytes = fc.uint8Array({ maxLength: 160 }).map(headerSafe);
  const randomCase = fc
    .tuple(bytes, bytes, fc.integer({ min: 0, max: 4 }), fc.nat())
    .map(([a, b, form, index]): Case => {
      const issued = pick(index);
      const headers = [
        `${NAME}=${a}`,
        `${NAME}=${a}; ${signatureName}=${b}`,
        a,
        `${NAME}=${issued.value}; ${signatureName}=${b}`,
        `${NAME}=v1.${a}`,
      ];
      return { kind: "header", label: `random/${form}`, header: headers[form] as string };
    });
  const mutation = fc.record({
    index: fc.nat(),
    target: fc.constantFrom<"value" | "sig">("value", "sig"),
    op: fc.constantFrom<Mutation>("flip", "drop", "insert"),
    position: fc.nat(),
    bit: fc.integer({ min: 0, max: 6 }),
    inserted: fc.integer({ min: 0x21, max: 0x7e }),
  });
  const nearValid = mutation.map(({ index, target, op, position, bit, inserted }): Case => {
    const issued = pick(index);
    const change = target === "sig" && issued.sig !== undefined ? "sig" : "value";
    const value = change === "value" ? mutate(issued.value, op, position, bit, inserted) : issued.value;
    const sig = change === "sig" ? mutate(issued.sig as string, op, position, bit, inserted) : issued.sig;
    const header = sig === undefined ? `${NAME}=${value}` : `${NAME}=${value}; ${signatureName}=${sig}`;
    return { kind: "header", label: `near-valid/${change}/${op}`, header };
  });
  const huge = fc
    .tuple(fc.integer({ min: 3000, max: 8000 }), fc.nat(), fc.integer({ min: 0, max: 4 }), fc.nat())
    .map(([length, seed, form, index]): Case => {
      const issued = pick(index);
      const big = filler(length, seed, B64URL);
      const headers = [
        `${NAME}=${big}; ${signatureName}=${keyring.sign(`${NAME}=${big}`).slice(1)}`,
        `${NAME}=v1.${big}`,
        `${NAME}=${issued.value}; ${signatureName}=${big}`,
        // Hundreds of other cookies in front of an issued one.
        `${filler(length, seed, "abcdefgh=12345678; ")}; ${issued.header}`,
        `${NAME}=${issued.value}${big}${issued.sig === undefined ? "" : `; ${signatureName}=${issued.sig}`}`,
      ];
      return { kind: "header", label: `huge/${form}`, header: headers[form] as string };
    });
  const duplicate = fc
    .tuple(fc.nat(), fc.nat(), fc.oneof(bytes, mutation.map((m) => mutate(pick(m.index).value, m.op, m.position, m.bit, m.inserted))), fc.integer({ min: 0, max: 5 }))
    .map(([index, other, bad, form]): Case => {
      const issued = pick(index);
      const second = pick(other);
      const good = `${NAME}=${issued.value}`;
      const goodSig = issued.sig === undefined ? "" : `; ${signatureName}=${issued.sig}`;
      const headers = [
        `${NAME}=${bad}; ${good}${goodSig}`, // the valid one second
        `${good}${goodSig}; ${NAME}=${bad}`, // the valid one first
        `${good}; ${NAME}=${bad}${goodSig}; ${signatureName}=${bad}`,
        `${signatureName}=${bad}; ${good}${goodSig}`,
        `${good}; ${NAME}=${second.value}${second.sig === undefined ? "" : `; ${signatureName}=${second.sig}`}${goodSig}`, // two issued ids crossed
        `${NAME}="${issued.value}"${goodSig}; ${NAME}=${bad}`,
      ];
      return { kind: "header", label: `duplicate/${form}`, header: headers[form] as string };
    });
  const valid = fc.nat().map((index): Case => ({ kind: "valid", index: index % mode.pool.length }));
  const inject = fc.tuple(hostileMembers, fc.nat(), fc.boolean()).map(([members, variant, tamper]): Case => ({ kind: "inject", members, variant, tamper }));
  return fc.oneof(
    { weight: 3, arbitrary: randomCase },
    { weight: 5, arbitrary: nearValid },
    { weight: 1, arbitrary: huge },
    { weight: 3, arbitrary: duplicate },
    { weight: 1, arbitrary: valid },
    { weight: 2, arbitrary: inject },
  );
}

let serial = 0;

/** Send one case; resolves a failure description, or undefined when every property held. */
async function check(mode: Mode, testCase: Case): Promise<string | undefined> {
  let header: string;
  let mustAccept: string | undefined;
  if (testCase.kind === "header") {
    header = testCase.header;
  } else if (testCase.kind === "valid") {
    const issued = mode.pool[testCase.index] as Issued;
    header = issued.header;
    mustAccept = issued.userId;
  } else {
    const issued = mode.inject(testCase.members, serial++, testCase.variant);
    header = testCase.tamper ? mutate(issued.header, "flip", testCase.variant, testCase.variant % 7, 0x41) : issued.header;
    // koa-session cookies are accepted once and re-issued; injected ones are used exactly once here.
    mustAccept = testCase.tamper ? undefined : issued.userId;
  }
  sentOverHttp++;
  const reply = await ask(mode.served.port, header);
  const where = `${mode.name} ${testCase.kind === "header" ? testCase.label : testCase.kind}: Cookie: ${JSON.stringify(header.slice(0, 300))}`;
  if (reply.status >= 500) return `${where} → HTTP ${reply.status}`;
  if (!reply.protoOk || reply.pwned) return `${where} → prototype changed (protoOk ${reply.protoOk}, pwned ${reply.pwned})`;
  if (reply.userId !== null) {
    acceptedOverHttp++;
    const issued = mode.byUser.get(reply.userId);
    if (!issued) return `${where} → accepted a session for "${reply.userId}", which was never issued`;
    if (!mode.matches(header, issued)) return `${where} → accepted "${reply.userId}" although its issued cookie is not the one read`;
  }
  if (mustAccept !== undefined && reply.userId !== mustAccept) return `${where} → an untampered issued cookie was refused (${reply.userId})`;
  return undefined;
}

function httpProperty(mode: () => Mode) {
  return async (seed: number) => {
    const current = mode();
    const before = sentOverHttp;
    await fc.assert(
      fc.asyncProperty(fc.array(cases(current), { minLength: CONCURRENCY, maxLength: CONCURRENCY }), async (batch) => {
        const failures = (await Promise.all(batch.map((testCase) => check(current, testCase)))).filter((failure) => failure !== undefined);
        expect(failures).toEqual([]);
        expect(current.served.errors).toEqual([]);
        assertNoPollution();
      }),
      { seed, numRuns: HTTP_RUNS },
    );
    expect(sentOverHttp - before).toBeGreaterThanOrEqual(HTTP_RUNS * CONCURRENCY);
  };
}

describe("fuzzing the Cookie header over HTTP", () => {
  describe.each(SEEDS)("seed %i", (seed) => {
    it("store mode: no 5xx, no forged session, no prototype change", async () => {
      await httpProperty(() => storeMode)(seed);
    }, 60_000);

    it("cookie mode (sealed + legacy koa-session JSON): no 5xx, no forged session, no prototype change", async () => {
      await httpProperty(() => cookieMode)(seed);
    }, 60_000);
  });

  it(`sent at least 10,000 generated cookies in total, and accepted only issued ones`, () => {
    console.log(`fuzz: ${sentOverHttp} cookies over HTTP, ${acceptedOverHttp} accepted (all issued)`);
    expect(sentOverHttp).toBeGreaterThanOrEqual(10_000);
    // Sanity: the generator does reach the accepting paths, so "none forged" is a real claim.
    expect(acceptedOverHttp).toBeGreaterThan(500);
  });
});

// --------------------------------------------------------------------------------- parsers direct

describe("fuzzing the parsers directly", () => {
  const tokens = Array.from({ length: 8 }, (_, i) => sealer.seal(`{"n":${i}}`, NAME, Date.now(), FUTURE));
  const ids = Array.from({ length: 8 }, () => randomBytes(32).toString("base64url"));
  const signed = ids.map((id) => ({ id, sig: keyring.sign(`${NAME}=${id}`) }));
  const mutation = fc.tuple(fc.nat(), fc.constantFrom<Mutation>("flip", "drop", "insert"), fc.nat(), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0x20, max: 0x7e }));

  describe.each(SEEDS)("seed %i", (seed) => {
    it("Sealer.open never throws and opens only untampered tokens for their own cookie name", () => {
      const input = fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 300 }).map((bytes) => `v1.${Buffer.from(bytes).toString("base64url")}`),
        mutation.map(([index, op, position, bit, ch]) => mutate(tokens[index % tokens.length] as string, op, position, bit, ch)),
        fc.integer({ min: 8000, max: 9000 }).map((length) => `v1.${filler(length, length, B64URL)}`),
      );
      fc.assert(
        fc.property(input, fc.constantFrom(NAME, "other"), (token, name) => {
          const opened = sealer.open(token, name);
          if (opened !== null) {
            expect(tokens).toContain(token);
            expect(name).toBe(NAME);
          }
        }),
        { seed, numRuns: PARSER_RUNS },
      );
      for (const token of tokens) expect(sealer.open(token, NAME)?.payload).toMatch(/^\{"n":\d\}$/);
    });

    it("Keyring.index never throws and verifies only the issued MAC", () => {
      const input = fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.string({ minLength: 43, maxLength: 43 }),
        mutation.map(([index, op, position, bit, ch]) => mutate((signed[index % signed.length] as { sig: string }).sig, op, position, bit, ch)),
      );
      fc.assert(
        fc.property(fc.nat(), input, (index, sig) => {
          const entry = signed[index % signed.length] as { id: string; sig: string };
          const found = keyring.index(`${NAME}=${entry.id}`, sig);
          expect([-1, 0]).toContain(found);
          if (found !== -1) expect(sameMac(sig, entry.sig)).toBe(true);
        }),
        { seed, numRuns: PARSER_RUNS },
      );
    });

    it("safeParse/parseStored drop __proto__, constructor and prototype at every depth, and never throw on text", () => {
      const text = fc.oneof(
        { weight: 4, arbitrary: jsonValue },
        { weight: 2, arbitrary: hostileMembers.map((members) => `{${members}}`) },
        { weight: 1, arbitrary: fc.tuple(jsonValue, mutation).map(([json, [, op, position, bit, ch]]) => mutate(json, op, position, bit, ch)) },
        { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
      );
      fc.assert(
        fc.property(text, (json) => {
          const stored = parseStored(json);
          if (stored !== null) {
            expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
            expect(hasDangerousKeyDeep(stored)).toBe(false);
            naiveDeepCopy({}, stored);
          }
          let parsed: unknown;
          try {
            parsed = safeParse(json);
          } catch (err) {
            expect(err).toBeInstanceOf(SyntaxError);
            return;
          }
          expect(hasDangerousKeyDeep(parsed)).toBe(false);
          assertNoPollution();
        }),
        { seed, numRuns: PARSER_RUNS },
      );
      assertNoPollution();
    });

    it("readSessionId (fake ctx; lookups checked against the real cookies module) never throws and yields only correctly signed ids", () => {
      const options = resolveOptions({ key: NAME }, [KEY1, KEY2]);
      const pair = signed[0] as { id: string; sig: string };
      const header = fc.oneof(
        fc.uint8Array({ maxLength: 200 }).map(headerSafe),
        mutation.map(([index, op, position, bit, ch]) => {
          const entry = signed[index % signed.length] as { id: string; sig: string };
          return mutate(`${NAME}=${entry.id}; ${NAME}.sig=${entry.sig}`, op, position, bit, ch);
        }),
        fc.uint8Array({ maxLength: 60 }).map((bytes) => `${NAME}=${headerSafe(bytes)}; ${NAME}=${pair.id}; ${NAME}.sig=${pair.sig}`),
        fc.uint8Array({ maxLength: 60 }).map((bytes) => `${NAME}=${pair.id}; ${NAME}.sig=${pair.sig}; ${NAME}=${headerSafe(bytes)}`),
      );
      fc.assert(
        fc.property(header, (cookie) => {
          const req = { headers: { cookie }, connection: {}, socket: {} } as unknown as http.IncomingMessage;
          const res = { getHeader: () => undefined, setHeader: () => undefined } as unknown as http.ServerResponse;
          const ctx = { req, cookies: new Cookies(req, res, { keys: [KEY1] }) } as unknown as Context;
          // Our own Cookie-header lookup finds exactly what the cookies module finds.
          for (const name of [NAME, `${NAME}.sig`]) expect(requestCookie(ctx, name)).toBe(ctx.cookies.get(name, { signed: false }));
          const incoming = readSessionId(ctx, options);
          if (incoming.id !== undefined) {
            const entry = signed.find((candidate) => candidate.id === incoming.id);
            expect(entry, `accepted id from ${JSON.stringify(cookie)}`).toBeDefined();
            expect(firstCookie(cookie, NAME)).toBe(incoming.id);
            expect(sameMac(firstCookie(cookie, `${NAME}.sig`), entry?.sig)).toBe(true);
          }
        }),
        { seed, numRuns: PARSER_RUNS },
      );
    });
  });

  /*
   * Finding (low severity): a 43-character base64url signature has 2 spare bits in its last
   * character, and Keyring.index decodes with Buffer.from(…, "base64url"), which ignores them. So
   * every valid `.sig` has 4 accepted spellings. Nothing can be forged (the MAC bytes must still be
   * right), but a one-character change of a signed cookie is accepted, unlike Sealer.open, which
   * insists on the canonical encoding. Fix in src/crypto/keyring.ts: reject unless
   * `expected.toString("base64url") === signature`. The legacy Keygrip check (src/session/legacy.ts)
   * refuses spare-bit variants too; test/cookie-mode/legacy.test.ts covers it.
   */
  it("Keyring.index accepts only the canonical spelling of a signature", () => {
    const entry = signed[0] as { id: string; sig: string };
    const last = B64URL.indexOf(entry.sig.slice(-1));
    for (const spare of [1, 2, 3]) {
      const variant = entry.sig.slice(0, -1) + B64URL[last ^ spare];
      expect(keyring.index(`${NAME}=${entry.id}`, variant)).toBe(-1);
    }
  });
});
