/**
 * Bad input gets a clear 4xx, logged as the client's mistake (info, no stack), never a 500:
 * corrupt or truncated compressed bodies, JSON that is valid but not an object, "__proto__" keys,
 * unsupported content types (415 after the CSRF decision), and JSON answers for form posts that ask
 * for JSON. Plus the CSRF spelling bypass on the app's own /logout.
 */
import { createServer } from "node:http";
import { answerClientErrors } from "../../app/http.js";
import { connect, type AddressInfo } from "node:net";
import { Writable } from "node:stream";
import zlib from "node:zlib";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import request from "supertest";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp, type AppHandle } from "../../app/app.js";
import { parseConfig } from "../../app/config.js";
import { hashPassword } from "../../src/auth/index.js";
import { cookieHeader, csrfFrom, TEST_KEY } from "./helpers.js";

const EMAIL = "input@example.com";
const PASSWORD = "correct horse battery";
const logs: Array<Record<string, unknown>> = [];
let handle: AppHandle;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "sk-bad-input-"));
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = { ...parseConfig({ DATA_DIR: dataDir, SESSION_STORE: "memory", SESSION_KEYS: TEST_KEY }), seedDemoUser: false };
  handle = await createApp(config, { logger: pino({ level: "info" }, sink) });
  await handle.users.create({ email: EMAIL, passwordHash: await hashPassword(PASSWORD), role: "user" });
});
afterAll(async () => {
  await handle?.close();
  await rm(dataDir, { recursive: true, force: true });
});
beforeEach(() => {
  logs.length = 0;
});

const http = () => request(handle.app.callback());
/** Sends the bytes as they are (superagent would JSON-encode a Buffer sent as application/json). */
const postJson = (body: string | Buffer, headers: Record<string, string> = {}) =>
  http()
    .post("/login")
    .set("Accept", "application/json")
    .set("Content-Type", "application/json")
    .set(headers)
    .serialize((data: unknown) => data as string)
    .send(body);

/** The refusal was logged as a client error: info level (30), no stack, no error object. */
function expectClientLog(status: number): void {
  const refused = logs.filter((entry) => entry.msg === "request refused");
  expect(refused).toHaveLength(1);
  expect(refused[0]).toMatchObject({ level: 30, status });
  expect(JSON.stringify(logs)).not.toMatch(/"stack"|"err"| {4}at /);
  expect(logs.some((entry) => (entry.level as number) >= 50)).toBe(false);
}

describe("compressed bodies", () => {
  const json = Buffer.from(JSON.stringify({ email: EMAIL, password: PASSWORD }));
  const cases: Array<[string, string, Buffer]> = [
    ["gzip that is not gzip", "gzip", Buffer.from("this is not gzip")],
    ["truncated gzip", "gzip", zlib.gzipSync(json).subarray(0, 12)],
    ["deflate that is not deflate", "deflate", Buffer.from("this is not deflate")],
    ["truncated deflate", "deflate", zlib.deflateSync(json).subarray(0, 8)],
    ["br that is not br", "br", Buffer.from("this is not brotli at all")],
    ["truncated br", "br", zlib.brotliCompressSync(json).subarray(0, 6)],
  ];

  it.each(cases)("%s: 400 saying so, logged at info without a stack", async (_name, encoding, body) => {
    const res = await postJson(body, { "Content-Encoding": encoding });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^Malformed compressed body: it is not valid \w+ or it is truncated$/);
    expectClientLog(400);
  });

  it("an unsupported encoding: 415 naming the supported ones", async () => {
    const res = await postJson(Buffer.from("x"), { "Content-Encoding": "zstd" });
    expect(res.status).toBe(415);
    expect(res.body).toEqual({ error: "Unsupported content encoding; send gzip, deflate, br or identity" });
    expectClientLog(415);
  });

  it("valid compressed bodies still log in", async () => {
    for (const [encoding, body] of [
      ["gzip", zlib.gzipSync(json)],
      ["deflate", zlib.deflateSync(json)],
      ["br", zlib.brotliCompressSync(json)],
      // Content codings are case-insensitive.
      ["GZIP", zlib.gzipSync(json)],
      [" Br ", zlib.brotliCompressSync(json)],
    ] as const) {
      const res = await postJson(body, { "Content-Encoding": encoding });
      expect(res.status, `${encoding} ${res.text}`).toBe(200);
    }
  });
});

describe("JSON bodies", () => {
  it.each([
    ["null", "null"],
    ['"x"', "a string"],
    ["42", "a number"],
    ["true", "a boolean"],
    ['["a"]', "an array"],
  ])("%s: 400 saying an object is expected", async (body, got) => {
    const res = await postJson(body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: `JSON body must be an object such as {"name":"value"}; got ${got}` });
    expectClientLog(400);
  });

  it("a __proto__ key, at any depth: 400 naming it", async () => {
    for (const body of ['{"__proto__":{"admin":true},"email":"a@b.c"}', '{"email":"a@b.c","x":{"__proto__":{"y":1}}}']) {
      const res = await postJson(body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'JSON body must not use "__proto__" as a key' });
    }
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it("malformed JSON is still 'Malformed JSON'; an empty body is an empty object", async () => {
    expect((await postJson('{"email":')).body).toEqual({ error: "Malformed JSON" });
    // Valid JSON nested past what the parser's reviver can recurse through is not "malformed".
    const deep = `{"email":"a@b.c","password":"x","n":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    const nested = await postJson(deep);
    expect(nested.status).toBe(400);
    expect(nested.body).toEqual({ error: "JSON body is nested too deeply" });
    const empty = await postJson("");
    expect(empty.status).toBe(400);
    expect(empty.body).toEqual({ error: "Email and password are required" });
  });
});

describe("content types and negotiation", () => {
  it("an unsupported content type is 415 naming the accepted types, but only after CSRF", async () => {
    const agent = request.agent(handle.app.callback());
    const token = csrfFrom((await agent.get("/login").set("Accept", "text/html")).text);
    for (const type of ["text/plain", "application/xml", "Multipart/Form-Data; boundary=x"]) {
      // Without the token: the CSRF refusal, whatever the type.
      const forged = await agent.post("/login").set("Accept", "application/json").set("Content-Type", type).send("x");
      expect(forged.status, type).toBe(403);
      expect(forged.body).toEqual({ error: "Invalid CSRF token" });
      const res = await agent.post("/login").set("Accept", "application/json").set("Content-Type", type).set("x-csrf-token", token).send("x");
      expect(res.status, type).toBe(415);
      expect(res.body).toEqual({
        error: `Unsupported content type ${type.split(";")[0]}; send application/json or application/x-www-form-urlencoded`,
      });
    }
  });

  it("a POST with a Content-Type but no body (curl -X POST -H …) is not refused as an unsupported type", async () => {
    const login = await http().post("/login").set("Accept", "application/json").send({ email: EMAIL, password: PASSWORD });
    expect(login.status).toBe(200);
    // Raw bytes: Node's and superagent's clients always add Content-Length: 0, curl sends neither it nor a body.
    const server = createServer(handle.app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const raw = (head: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => socket.end(`${head}Host: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
          let text = "";
          socket.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
          socket.on("end", () => resolve(text));
          socket.on("error", reject);
        });
      const dashboard = await raw(`GET /dashboard HTTP/1.1\r\nAccept: application/json\r\nCookie: ${cookieHeader(login)}\r\n`);
      expect(dashboard).toMatch(/^HTTP\/1\.1 200 /);
      const logout = await raw(`POST /logout HTTP/1.1\r\nAccept: application/json\r\nContent-Type: application/json\r\nCookie: ${cookieHeader(login)}\r\n`);
      expect(logout).toMatch(/^HTTP\/1\.1 200 /);
      expect(logout.endsWith('{"ok":true}')).toBe(true);
      expect(logout).toMatch(/set-cookie: sessionkit\.sid=;/i);
      // And an empty JSON login is the route's 400, not a 415.
      const empty = await raw("POST /login HTTP/1.1\r\nAccept: application/json\r\nContent-Type: application/json\r\n");
      expect(empty).toMatch(/^HTTP\/1\.1 400 /);
      expect(empty.endsWith('{"error":"Email and password are required"}')).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("requests Node's HTTP parser refuses (bad chunk size, two Content-Lengths, huge headers) get a JSON error, not an empty body", async () => {
    const server = createServer(handle.app.callback());
    answerClientErrors(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const raw = (bytes: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
          let text = "";
          socket.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
          socket.on("end", () => resolve(text));
          socket.on("error", reject);
        });
      const host = `Host: 127.0.0.1:${port}\r\n`;
      const cases: Array<[string, number, string]> = [
        [`POST /login HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nzz\r\n`, 400, "Bad Request"],
        [`POST /login HTTP/1.1\r\n${host}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`, 400, "Bad Request"],
        [`GET /login HTTP/1.1\r\n${host}X-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431, "Request Header Fields Too Large"],
      ];
      for (const [bytes, status, text] of cases) {
        const answer = await raw(bytes);
        expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        expect(answer).toMatch(/content-type: application\/json/i);
        expect(answer.endsWith(JSON.stringify({ error: text }))).toBe(true);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("a method a route does not take is a JSON 405 with Allow (an HTML page for a browser), an unknown one a JSON 501", async () => {
    const put = await http().put("/login").set("Accept", "application/json");
    expect(put.status).toBe(405);
    expect(put.headers["content-type"]).toMatch(/^application\/json/);
    expect(put.headers.allow).toMatch(/POST/);
    expect(put.body).toEqual({ error: "Method Not Allowed" });
    const curlLike = await http().delete("/dashboard").set("Accept", "*/*");
    expect(curlLike.status).toBe(405);
    expect(curlLike.body).toEqual({ error: "Method Not Allowed" });
    const page = await http().put("/login").set("Accept", "text/html");
    expect(page.status).toBe(405);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    const unknown = await http().search("/login").set("Accept", "application/json");
    expect(unknown.status).toBe(501);
    expect(unknown.body).toEqual({ error: "Not Implemented" });
    const missing = await http().get("/no-such-page").set("Accept", "application/json");
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: "Not Found" });
  });

  it("a form post asking for JSON gets its 403 and 413 in JSON", async () => {
    const forbidden = await http().post("/login").set("Accept", "application/json").type("form").send({ email: EMAIL, password: PASSWORD });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers["content-type"]).toMatch(/^application\/json/);
    expect(forbidden.body).toEqual({ error: "Invalid CSRF token" });
    const big = await http().post("/login").set("Accept", "application/json").type("form").send(`email=${"a".repeat(1_100_000)}`);
    expect(big.status).toBe(413);
    expect(big.headers["content-type"]).toMatch(/^application\/json/);
    expect(big.body).toEqual({ error: "Request body too large" });
    // A browser's form post still gets pages.
    const page = await http().post("/login").set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8").type("form").send({ email: EMAIL });
    expect(page.status).toBe(403);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
  });
});

describe("CSRF on the app's /logout", () => {
  it("Text/Plain and other spellings of a simple request can't log a user out without the token", async () => {
    const login = await http().post("/login").set("Accept", "application/json").send({ email: EMAIL, password: PASSWORD });
    expect(login.status).toBe(200);
    const cookie = cookieHeader(login);
    for (const type of ["Text/Plain", "TEXT/PLAIN; charset=utf-8", "Application/X-WWW-Form-Urlencoded", " multipart/FORM-DATA; boundary=x"]) {
      const res = await http().post("/logout").set("Cookie", cookie).set("Accept", "application/json").set("Content-Type", type).send("a=1");
      expect(res.status, type).toBe(403);
    }
    expect((await http().get("/dashboard").set("Cookie", cookie).set("Accept", "application/json")).status).toBe(200);
  });
});
