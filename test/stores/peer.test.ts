/** A store whose client library is not installed says which package to install. */
import { describe, expect, it } from "vitest";
import { loadPeer } from "../../src/stores/peer.js";

describe("loadPeer", () => {
  it("loads an installed peer", () => {
    expect(typeof loadPeer<{ Pool: unknown }>("pg", "PostgresStore").Pool).toBe("function");
  });
  it("names the missing package and the command that fixes it", () => {
    expect(() => loadPeer("koa-sessionkit-no-such-client", "ExampleStore")).toThrow(
      "koa-sessionkit: ExampleStore needs the koa-sessionkit-no-such-client package; run npm install koa-sessionkit-no-such-client",
    );
  });
});
