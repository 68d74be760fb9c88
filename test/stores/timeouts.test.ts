import { afterEach, describe, expect, it, vi } from "vitest";
import { TimeoutList, type PendingCall } from "../../src/stores/timeouts.js";

function pending(at: number, expired: string[], name: string): PendingCall {
  return { at, slot: -1, expire: () => expired.push(name) };
}

/** Fake timers on (afterEach turns them off), a fresh list, what it expired, and the clock's start. */
function onFakeTimers(): { list: TimeoutList; expired: string[]; base: number } {
  vi.useFakeTimers();
  return { list: new TimeoutList(), expired: [], base: performance.now() };
}

describe("TimeoutList (one timer for every store call in flight)", () => {
  it("expires a random mix of deadlines in deadline order, each once, never a removed one, and never early", async () => {
    vi.useFakeTimers();
    const list = new TimeoutList();
    const base = performance.now();
    const fired: { name: number; at: number; when: number }[] = [];
    const calls: PendingCall[] = [];
    let seed = 17;
    const random = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let i = 0; i < 3000; i++) {
      const at = base + 1 + Math.floor(random() * 2000);
      const call: PendingCall = { at, slot: -1, expire: () => fired.push({ name: i, at, when: performance.now() }) };
      calls.push(call);
      list.add(call);
      // Some settle before their deadline, in any order (a removal from the middle of the heap).
      if (random() < 0.3) list.remove(calls[Math.floor(random() * calls.length)] as PendingCall);
    }
    const removed = new Set(calls.filter((call) => call.slot === -1).map((call) => calls.indexOf(call)));
    expect(removed.size).toBeGreaterThan(500);
    await vi.advanceTimersByTimeAsync(2100);
    const names = fired.map((entry) => entry.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.some((name) => removed.has(name))).toBe(false);
    expect(names.length + removed.size).toBe(3000);
    const deadlines = fired.map((entry) => entry.at);
    expect(deadlines).toEqual([...deadlines].sort((a, b) => a - b));
    for (const entry of fired) expect(entry.when).toBeGreaterThanOrEqual(entry.at - 1);
    expect(list.size).toBe(0);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("expires each call at its own deadline, whatever the order they were added in, and never a removed one", async () => {
    const { list, expired, base: now } = onFakeTimers();
    const late = pending(now + 300, expired, "late");
    const early = pending(now + 100, expired, "early");
    const removed = pending(now + 50, expired, "removed");
    const middle = pending(now + 200, expired, "middle");
    list.add(late);
    list.add(early); // earlier than the armed deadline: the timer moves
    list.add(removed);
    list.add(middle);
    list.remove(removed); // settled before its deadline
    list.remove(removed); // twice is harmless
    await vi.advanceTimersByTimeAsync(60);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(50);
    expect(expired).toEqual(["early"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(expired).toEqual(["early", "middle"]);
    await vi.advanceTimersByTimeAsync(100);
    expect(expired).toEqual(["early", "middle", "late"]);
    expect([late, early, middle, removed].map((call) => call.slot)).toEqual([-1, -1, -1, -1]);
    expect(list.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps one timer however many calls are pending, and a call added from an expiry is watched too", async () => {
    const { list, expired, base } = onFakeTimers();
    for (let i = 0; i < 1000; i++) list.add(pending(base + 100 + i, expired, `c${i}`));
    expect(vi.getTimerCount()).toBe(1);
    const chained: PendingCall = { at: base + 1, slot: -1, expire: () => list.add(pending(performance.now() + 5, expired, "from-expiry")) };
    list.add(chained);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(expired).toEqual(["from-expiry"]);
    await vi.advanceTimersByTimeAsync(1200);
    expect(expired).toHaveLength(1001);
    expect(expired.slice(1, 4)).toEqual(["c0", "c1", "c2"]);
  });

  it("re-arms after a timer that fired for a call which settled since", async () => {
    const { list, expired, base } = onFakeTimers();
    const first = pending(base + 100, expired, "first");
    const second = pending(base + 400, expired, "second");
    list.add(first);
    list.add(second);
    list.remove(first); // the timer stays armed for 100 ms and finds nothing due then
    await vi.advanceTimersByTimeAsync(150);
    expect(expired).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(300);
    expect(expired).toEqual(["second"]);
  });

  it("does not keep the process alive once nothing is pending", () => {
    const list = new TimeoutList();
    const call = pending(performance.now() + 60_000, [], "idle");
    list.add(call);
    const handles = (): number => (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
    const withPending = handles();
    list.remove(call);
    expect(handles()).toBe(withPending - 1);
  });
});
