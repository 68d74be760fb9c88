/**
 * BREACHED_PASSWORD_CHECK=hibp in the reference app, against a local range server: a breached new
 * password is refused with a clear 400, a clean one is accepted, and an unreachable service never
 * blocks a password change (accepted, with a warning in the log).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../app/config.js";
import { PWNED_PASSWORDS_RANGE_URL } from "../../src/auth/index.js";
import { startPwnedServer, type PwnedServer } from "../helpers/pwned-server.js";
import { loginJson, startTestApp } from "./helpers.js";

const BREACHED = "monkey business 2019!";
let pwned: PwnedServer;

beforeAll(async () => {
  pwned = await startPwnedServer({ [BREACHED]: 17 });
});
afterAll(() => pwned.close());

describe("the reference app's breached-password check", () => {
  it("is off by default and uses the public API when turned on without a URL", () => {
    expect(parseConfig({}).breachedPasswordUrl).toBeUndefined();
    expect(parseConfig({ BREACHED_PASSWORD_CHECK: "HIBP" }).breachedPasswordUrl).toBe(PWNED_PASSWORDS_RANGE_URL);
  });

  it("refuses a breached new password, accepts a clean one, and never blocks on an outage", async () => {
    const t = await startTestApp({ BREACHED_PASSWORD_CHECK: "hibp", BREACHED_PASSWORD_URL: pwned.url });
    try {
      const user = await t.addUser();
      const agent = t.agent();
      expect((await loginJson(agent, user.email, user.password)).body).toEqual({ ok: true });
      const change = (currentPassword: string, newPassword: string) =>
        agent.post("/account/password").set("Accept", "application/json").send({ currentPassword, newPassword });

      pwned.mode = "ok";
      const refused = await change(user.password, BREACHED);
      expect(refused.status).toBe(400);
      expect(refused.body).toEqual({ error: "New password appeared in a known data breach; choose one you have not used anywhere else" });

      const accepted = await change(user.password, "a clean and unusual passphrase");
      expect(accepted.status).toBe(200);

      pwned.mode = "500";
      const unchecked = await change("a clean and unusual passphrase", "another unusual passphrase");
      expect(unchecked.status).toBe(200);
      expect(pwned.requests.length).toBeGreaterThanOrEqual(3);
    } finally {
      await t.close();
    }
  });
});
