/** Unhandled promise rejections during each test of the calling file, for `expect(...).toEqual([])`. */
import { afterEach, beforeEach } from "vitest";

export function collectUnhandledRejections(): { list: unknown[] } {
  const collected = { list: [] as unknown[] };
  const onUnhandled = (reason: unknown): void => {
    collected.list.push(reason);
  };
  beforeEach(() => {
    collected.list = [];
    process.on("unhandledRejection", onUnhandled);
  });
  afterEach(() => {
    process.off("unhandledRejection", onUnhandled);
  });
  return collected;
}
