/**
 * src/stores/deep-json.ts: JSON for session values of any depth. The iterative stringify must write
 * exactly what JSON.stringify writes; parse, clean and compare must handle what JSON.parse accepts.
 */
import { describe, expect, it } from "vitest";
import { dropDangerousKeys, parseJson, sameJson, stringifyIterative, stringifyJson } from "../../src/stores/deep-json.js";

/** An array nested `depth` levels deep, built without recursion: [[[…[leaf]…]]]. */
function nestedArray(depth: number, leaf: unknown = 1): unknown[] {
  let value: unknown[] = [leaf];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

/** {"a":{"a":…{"a":leaf}…}}, `depth` objects deep. */
function nestedObject(depth: number, leaf: unknown = "x"): Record<string, unknown> {
  let value: Record<string, unknown> = { a: leaf };
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

function nativeOverflows(value: unknown): boolean {
  try {
    JSON.stringify(value);
    return false;
  } catch (error) {
    return error instanceof RangeError;
  }
}

describe("stringifyIterative writes what JSON.stringify writes", () => {
  class WithToJson {
    toJSON(key: string): unknown {
      return { key, kind: "custom" };
    }
  }
  const cases: Array<[string, unknown]> = [
    ["primitives", [1, -0, 1.5e300, "s", true, false, null]],
    ["non-finite numbers become null", [NaN, Infinity, -Infinity]],
    ["undefined, functions and symbols: null in arrays, skipped in objects", [undefined, () => 1, Symbol("s"), { u: undefined, f: () => 1, s: Symbol("t"), k: 1 }]],
    ["an object whose first members are skipped", { u: undefined, f: () => 1, k: 1, l: [] }],
    ["an object with only skipped members", { u: undefined }],
    ["sparse arrays", [1, , 3]], // eslint-disable-line no-sparse-arrays
    ["Dates and toJSON (with the member's key)", { when: new Date(0), custom: new WithToJson(), list: [new WithToJson()] }],
    ["boxed primitives", [new Number(2), new String("s"), new Boolean(false)]],
    ["escapes and unicode", { "quote\"key\n": "tab\t \u0000 \u2028 é 😀 \ud800", "": "" }],
    ["empty containers", { a: {}, b: [], c: [{}, []] }],
    ["key order, including integer-like keys", { b: 1, a: 2, 10: 3, 2: 4 }],
    ["a Map and a Set serialize as {}", { map: new Map([[1, 2]]), set: new Set([1]) }],
  ];
  for (const [name, value] of cases) {
    it(name, () => {
      expect(stringifyIterative(value)).toBe(JSON.stringify(value));
    });
  }

  it("top-level values JSON.stringify leaves undefined, or writes bare", () => {
    for (const value of [undefined, () => 1, Symbol("s"), 1, "s", null, new Date(5)]) {
      expect(stringifyIterative(value)).toBe(JSON.stringify(value));
    }
  });

  it("random JSON-like values", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const make = (depth: number): unknown => {
      const pick = random();
      if (depth > 5 || pick < 0.3) return [null, 1.25, "text", true, undefined, -3][Math.floor(random() * 6)];
      if (pick < 0.65) return Array.from({ length: Math.floor(random() * 4) }, () => make(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`k${i}${Math.floor(random() * 3)}`, make(depth + 1)]));
    };
    for (let i = 0; i < 300; i++) {
      const value = make(0);
      expect(stringifyIterative(value)).toBe(JSON.stringify(value));
    }
  });

  it("throws TypeError on a cycle and on a BigInt, as JSON.stringify does", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(() => stringifyIterative(cyclic)).toThrow(TypeError);
    expect(() => stringifyIterative({ n: 1n })).toThrow(TypeError);
    // The same object twice, but not on one path, is not a cycle.
    const shared = { s: 1 };
    expect(stringifyIterative([shared, { shared }])).toBe(JSON.stringify([shared, { shared }]));
  });
});

describe("values deeper than the call stack", () => {
  for (const depth of [10_000, 100_000]) {
    it(`${depth} levels: stringify, parse, clean and compare without a stack overflow`, () => {
      const array = nestedArray(depth);
      const object = nestedObject(depth);
      expect(nativeOverflows(array)).toBe(true); // the case this module exists for

      const arrayText = stringifyJson(array);
      expect(arrayText).toBe(`${"[".repeat(depth)}1${"]".repeat(depth)}`);
      const objectText = stringifyJson({ deep: object });
      expect(objectText.startsWith('{"deep":{"a":{"a":')).toBe(true);
      expect(objectText.length).toBe(`{"deep":}`.length + depth * `{"a":}`.length + 3);

      // \u escapes make parseJson walk the whole value for dangerous keys.
      const hostile = `${'{"__proto__":{"polluted":1},"a":'.repeat(depth)}"\\u0041"${"}".repeat(depth)}`;
      const parsed = parseJson(hostile) as Record<string, unknown>;
      let cursor: unknown = parsed;
      let levels = 0;
      while (typeof cursor === "object" && cursor !== null) {
        expect(Object.keys(cursor)).toEqual(["a"]);
        cursor = (cursor as Record<string, unknown>).a;
        levels++;
      }
      expect(levels).toBe(depth);
      expect(cursor).toBe("A");
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();

      expect(sameJson(parseJson(arrayText), array)).toBe(true);
      expect(sameJson(parseJson(arrayText), nestedArray(depth, 2))).toBe(false);
      expect(sameJson(parseJson(objectText), { deep: object })).toBe(true);
      expect(sameJson(nestedObject(depth), nestedObject(depth - 1))).toBe(false);
    });
  }
});

describe("parseJson", () => {
  it("drops __proto__, constructor and prototype at every depth, however spelled", () => {
    const value = parseJson('{"a":[{"__proto__":{"x":1},"ok":1}],"constructor":{"prototype":1},"\\u005f_proto__":{"y":1},"b":"\\u0041"}');
    expect(value).toEqual({ a: [{ ok: 1 }], b: "A" });
    const nested = (value as { a: Array<Record<string, unknown>> }).a[0] as Record<string, unknown>;
    expect(Object.getPrototypeOf(nested)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(nested, "__proto__")).toBe(false);
  });

  it("leaves ordinary text alone and throws SyntaxError on bad JSON", () => {
    expect(parseJson('{"user":"alice","n":[1,2]}')).toEqual({ user: "alice", n: [1, 2] });
    expect(() => parseJson("{bad")).toThrow(SyntaxError);
  });

  it("dropDangerousKeys ignores primitives", () => {
    expect(() => dropDangerousKeys(null)).not.toThrow();
    const value = { constructor: 1, keep: [{ prototype: 2 }] };
    dropDangerousKeys(value);
    expect(value).toEqual({ keep: [{}] });
  });
});

describe("sameJson", () => {
  it("ignores key order and tells arrays from objects", () => {
    expect(sameJson({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
    expect(sameJson([], {})).toBe(false);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson("1", 1)).toBe(false);
  });
});
