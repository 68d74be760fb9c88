/**
 * TextTemplates (stores/text-templates.ts): a session read again under its key is copied from a
 * remembered template instead of parsed, what it hands out is exactly what parseStored would have,
 * and sessions read only once in a while are never kept.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseStored, rawJsonOf } from "../../src/stores/json.js";
import { MAX_TEXT, TextTemplates } from "../../src/stores/text-templates.js";

const FLAT = JSON.stringify({ _expire: 1_900_000_000_000, _maxAge: 86_400_000, userId: "u1", n: 1.5, ok: true, none: null, _sk: { createdAt: 1, userId: "u1" } });
const NESTED = JSON.stringify({ _expire: 1_900_000_000_000, prefs: { theme: "dark" }, list: [1, { a: 2 }] });
const key = (i: number): string => `sess:${i.toString(16).padStart(64, "0")}`;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("TextTemplates", () => {
  it("parses a session on its first two reads and copies a template from the third on", () => {
    const templates = new TextTemplates();
    const parse = vi.spyOn(JSON, "parse");
    const reads = Array.from({ length: 5 }, () => templates.parse(key(1), FLAT));
    expect(parse).toHaveBeenCalledTimes(2);
    for (const read of reads) {
      expect(read).toEqual(parseStored(FLAT));
      expect(rawJsonOf(read as object)).toBe(FLAT);
    }
    // Each read is its own object, metadata included.
    expect(new Set(reads).size).toBe(5);
    expect(new Set(reads.map((read) => read?._sk)).size).toBe(5);
  });

  it("a change to one read's result reaches no other read", () => {
    const templates = new TextTemplates();
    for (let i = 0; i < 4; i++) {
      const read = templates.parse(key(1), FLAT) as unknown as Record<string, unknown> & { _sk: Record<string, unknown> };
      expect(read).toEqual(parseStored(FLAT));
      read.userId = "attacker";
      read._sk.userId = "attacker";
      read.added = 1;
      delete read.n;
    }
  });

  it("uses a template only for the very text it was parsed from", () => {
    const templates = new TextTemplates();
    for (let i = 0; i < 3; i++) templates.parse(key(1), FLAT);
    const changed = JSON.stringify({ ...(JSON.parse(FLAT) as object), n: 2 });
    expect(templates.parse(key(1), changed)).toEqual(parseStored(changed));
    // Another key with the same text is parsed, not served from key(1)'s template.
    const parse = vi.spyOn(JSON, "parse");
    expect(templates.parse(key(2), FLAT)).toEqual(parseStored(FLAT));
    expect(parse).toHaveBeenCalledTimes(2);
  });

  it("parses every read of a nested session: no nested object is shared between reads", () => {
    const templates = new TextTemplates();
    const parse = vi.spyOn(JSON, "parse");
    const reads = Array.from({ length: 4 }, () => templates.parse(key(1), NESTED) as Record<string, unknown>);
    expect(parse).toHaveBeenCalledTimes(4);
    for (const read of reads) expect(read).toEqual(parseStored(NESTED));
    expect(new Set(reads.map((read) => read.prefs)).size).toBe(4);
    expect(templates.size).toBe(0);
  });

  it("answers as parseStored for what is not a usable session, however often it is read", () => {
    const templates = new TextTemplates();
    const long = JSON.stringify({ _expire: 1, pad: "x".repeat(MAX_TEXT) });
    const hostile = '{"__proto__":{"polluted":true},"ok":1,"_expire":1}';
    for (const text of [null, undefined, "", "not json", "[1,2]", "42", '"text"', long, hostile]) {
      for (let i = 0; i < 3; i++) expect(templates.parse(key(1), text)).toEqual(parseStored(text));
    }
    const safe = templates.parse(key(1), hostile) as Record<string, unknown>;
    expect(Object.hasOwn(safe, "__proto__")).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("keeps nothing for sessions each read once, and remembers a bounded number of those read again", () => {
    const templates = new TextTemplates(10);
    for (let i = 0; i < 5000; i++) templates.parse(key(i), JSON.stringify({ _expire: 1, i }));
    expect(templates.size).toBe(0);
    const texts = Array.from({ length: 30 }, (_, i) => JSON.stringify({ _expire: 1, i }));
    texts.forEach((text, i) => {
      templates.parse(key(i), text);
      templates.parse(key(i), text);
    });
    expect(templates.size).toBeLessThanOrEqual(10);
    const parse = vi.spyOn(JSON, "parse");
    templates.parse(key(29), texts[29] as string);
    expect(parse).toHaveBeenCalledTimes(0);
    templates.parse(key(0), texts[0] as string);
    expect(parse).toHaveBeenCalledTimes(1);
  });
});
