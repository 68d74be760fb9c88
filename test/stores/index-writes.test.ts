/** RedisStore's memory of the index scores it wrote: bounded, and a recent session skips its index write. */
import { describe, expect, it } from "vitest";
import { IndexWrites, INDEX_STEP_MS } from "../../src/stores/redis-index-writes.js";

describe("IndexWrites", () => {
  it("remembers recent sessions past 10,000 (no index write), forgets the oldest (writes again)", async () => {
    let sent = 0;
    const writes = new IndexWrites(async () => {
      sent++;
      return 1;
    });
    const expiresAt = Date.now() + INDEX_STEP_MS;
    for (let i = 0; i < 25_000; i++) await writes.record("u:1", `s${i}`, expiresAt);
    expect(sent).toBe(25_000);
    expect(writes.record("u:1", "s24999", expiresAt)).toBeUndefined();
    expect(writes.record("u:1", "s24000", expiresAt)).toBeUndefined();
    await writes.record("u:1", "s0", expiresAt);
    expect(sent).toBe(25_001);
  });
});
