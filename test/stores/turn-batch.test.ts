import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { MAX_BATCH, TurnBatch } from "../../src/stores/turn-batch.js";

/** A batch over an in-memory map that records what it was asked, call by call. */
function recording(values: Record<string, string>) {
  const sent: { kind: "one" | "many"; inputs: string[] }[] = [];
  const batch = new TurnBatch<string, string | null>(
    async (key) => {
      sent.push({ kind: "one", inputs: [key] });
      return values[key] ?? null;
    },
    async (keys) => {
      sent.push({ kind: "many", inputs: [...keys] });
      return keys.map((key) => values[key] ?? null);
    },
  );
  return { batch, sent };
}

describe("TurnBatch", () => {
  it("sends the calls of one turn as one batch, in order, and gives each caller its own result", async () => {
    const { batch, sent } = recording({ a: "A", c: "C" });
    const results = await Promise.all([batch.call("a"), batch.call("b"), batch.call("c"), batch.call("a")]);
    expect(results).toEqual(["A", null, "C", "A"]);
    expect(sent).toEqual([{ kind: "many", inputs: ["a", "b", "c", "a"] }]);
  });

  it("sends a lone call in its single form, and calls of later turns in later batches", async () => {
    const { batch, sent } = recording({ a: "A", b: "B" });
    expect(await batch.call("a")).toBe("A");
    const second = [batch.call("a"), batch.call("b")];
    await nextTurn();
    const third = batch.call("b");
    expect(await Promise.all([...second, third])).toEqual(["A", "B", "B"]);
    expect(sent).toEqual([
      { kind: "one", inputs: ["a"] },
      { kind: "many", inputs: ["a", "b"] },
      { kind: "one", inputs: ["b"] },
    ]);
  });

  it(`splits a turn of more than ${MAX_BATCH} calls into batches of at most ${MAX_BATCH}, in order`, async () => {
    const values = Object.fromEntries(Array.from({ length: 2 * MAX_BATCH + 1 }, (_, i) => [`k${i}`, `v${i}`]));
    const { batch, sent } = recording(values);
    const results = await Promise.all(Object.keys(values).map((key) => batch.call(key)));
    expect(results).toEqual(Object.values(values));
    expect(sent.map((s) => [s.kind, s.inputs.length])).toEqual([
      ["many", MAX_BATCH],
      ["many", MAX_BATCH],
      ["one", 1],
    ]);
    expect(sent.flatMap((s) => s.inputs)).toEqual(Object.keys(values));
  });

  it("rejects every caller of a failed batch with its error, and the next turn works again", async () => {
    let fail = true;
    const boom = new Error("connection lost");
    const batch = new TurnBatch<string, string>(
      async (key) => key,
      async (keys) => {
        if (fail) throw boom;
        return keys;
      },
    );
    const failed = await Promise.allSettled([batch.call("a"), batch.call("b")]);
    expect(failed).toEqual([
      { status: "rejected", reason: boom },
      { status: "rejected", reason: boom },
    ]);
    fail = false;
    expect(await Promise.all([batch.call("a"), batch.call("b")])).toEqual(["a", "b"]);
  });

  it("a client that throws instead of rejecting fails the callers, not the process", async () => {
    const batch = new TurnBatch<string, string>(
      () => {
        throw new Error("closed (one)");
      },
      () => {
        throw new Error("closed (many)");
      },
    );
    await expect(batch.call("a")).rejects.toThrow("closed (one)");
    const both = await Promise.allSettled([batch.call("a"), batch.call("b")]);
    expect(both.map((r) => r.status === "rejected" && (r.reason as Error).message)).toEqual(["closed (many)", "closed (many)"]);
  });
});

describe("TurnBatch decode", () => {
  it("decodes each result for its caller, batched or alone, and a decode that throws rejects that caller only", async () => {
    const decode = (raw: string | null): number | null => {
      if (raw === "bad") throw new SyntaxError("not a number");
      return raw === null ? null : Number(raw);
    };
    const values: Record<string, string> = { a: "1", b: "bad", c: "3" };
    const batch = new TurnBatch<string, string | null, number | null>(
      async (key) => values[key] ?? null,
      async (keys) => keys.map((key) => values[key] ?? null),
      decode,
    );
    const settled = await Promise.allSettled([batch.call("a"), batch.call("b"), batch.call("c"), batch.call("missing")]);
    expect(settled.map((s) => (s.status === "fulfilled" ? s.value : (s.reason as Error).name))).toEqual([1, "SyntaxError", 3, null]);
    // A lone call takes the single form and is decoded the same way.
    expect(await batch.call("c")).toBe(3);
    await expect(batch.call("b")).rejects.toThrow(SyntaxError);
  });
});

describe("TurnBatch sends a full batch at once", () => {
  it(`sends ${MAX_BATCH} calls as soon as they are made, and the turn's rest at its end, in call order`, async () => {
    const values = Object.fromEntries(Array.from({ length: MAX_BATCH + 3 }, (_, i) => [`k${i}`, `v${i}`]));
    const { batch, sent } = recording(values);
    const keys = Object.keys(values);
    const pending = keys.slice(0, MAX_BATCH).map((key) => batch.call(key));
    // Full: on its way before this turn goes on parsing requests, not at the turn's end.
    expect(sent).toEqual([{ kind: "many", inputs: keys.slice(0, MAX_BATCH) }]);
    pending.push(...keys.slice(MAX_BATCH).map((key) => batch.call(key)));
    expect(sent).toHaveLength(1);
    expect(await Promise.all(pending)).toEqual(Object.values(values));
    expect(sent).toEqual([
      { kind: "many", inputs: keys.slice(0, MAX_BATCH) },
      { kind: "many", inputs: keys.slice(MAX_BATCH) },
    ]);
  });
});
