/** app/passwords.ts: the rule for new passwords, without HTTP. */
import { describe, expect, it } from "vitest";
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH, newPasswordProblem } from "../../app/passwords.js";

describe("newPasswordProblem", () => {
  it("accepts a long, uncommon password", async () => {
    expect(await newPasswordProblem("correct horse battery staple")).toBeUndefined();
    expect(await newPasswordProblem("🔑".repeat(MIN_PASSWORD_LENGTH))).toBeUndefined(); // code points, not UTF-16 units
  });

  it("refuses short, oversized and common passwords, each with its own reason", async () => {
    expect(await newPasswordProblem("x".repeat(MIN_PASSWORD_LENGTH - 1))).toMatch(/at least 12 characters/);
    expect(await newPasswordProblem(" ".repeat(MIN_PASSWORD_LENGTH))).toMatch(/something other than spaces/);
    expect(await newPasswordProblem(" \t\u3000".repeat(MIN_PASSWORD_LENGTH))).toMatch(/something other than spaces/);
    expect(await newPasswordProblem("  spaces are fine inside  ")).toBeUndefined();
    expect(await newPasswordProblem("é".repeat(MAX_PASSWORD_BYTES))).toMatch(/at most 1024 bytes/);
    for (const common of ["qwerty123456", "QWERTY123456", "1q2w3e4r5t6y", "leavemealone"]) {
      expect(await newPasswordProblem(common)).toMatch(/commonly used passwords/);
    }
  });
});
