/**
 * `npm run user:add -- --email E --password P [--role user|admin]`: add a user to the app's database (the same
 * DATA_DIR / DATABASE_URL configuration as the server).
 *
 * Exit codes: 0 added; 1 bad configuration; 2 bad arguments; 3 the email is taken.
 */
import { parseArgs } from "node:util";
import { hashPassword } from "../../src/auth/index.js";
import { openUsers } from "../resources.js";
import { MIN_PASSWORD_LENGTH, newPasswordProblem } from "../passwords.js";
import { DuplicateEmailError, isPlausibleEmail, isRole, normalizeEmail, ROLES } from "../users/repository.js";
import { configOrExit, exit } from "./common.js";

const USAGE = `usage: npm run user:add -- --email you@example.com --password 'at least ${MIN_PASSWORD_LENGTH} characters, not a common one' [--role ${ROLES.join("|")}]`;


async function main(): Promise<void> {
  let values: { email?: string; password?: string; role?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { email: { type: "string" }, password: { type: "string" }, role: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    exit(2, `user:add: ${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) exit(0, USAGE);
  const email = normalizeEmail(values.email ?? "");
  const password = values.password ?? "";
  const role = (values.role ?? "user").trim();
  if (!email) exit(2, `user:add: --email is required\n${USAGE}`);
  if (!isPlausibleEmail(email)) exit(2, `user:add: ${JSON.stringify(values.email)} is not an email address`);
  if (!password) exit(2, `user:add: --password is required\n${USAGE}`);
  if (!isRole(role)) exit(2, `user:add: unknown role ${JSON.stringify(values.role)}; --role must be one of ${ROLES.join(", ")}`);

  const config = configOrExit("user:add");
  const problem = await newPasswordProblem(password, {
    breachedPasswordUrl: config.breachedPasswordUrl,
    onUnchecked: () => process.stderr.write("user:add: the breached-password service could not be reached; the password was not checked against it\n"),
  });
  if (problem !== undefined) exit(2, `user:add: ${problem.replace(/^New password/, "the password")}`);

  const { users, close } = openUsers(config);
  try {
    const user = await users.create({ email, passwordHash: await hashPassword(password), role });
    await close();
    exit(0, `Added ${user.email} (role ${user.role}).`);
  } catch (error) {
    await close().catch(() => {});
    if (error instanceof DuplicateEmailError) exit(3, `user:add: a user with email ${email} already exists`);
    exit(1, `user:add: ${(error as Error).message.split("\n")[0]}`);
  }
}

void main();
