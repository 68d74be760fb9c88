/**
 * `npm run user:disable -- --email E` and `npm run user:enable -- --email E` (entry points
 * user-disable.ts and user-enable.ts): disable an account, so its logins are refused and every session
 * it has in the configured store is destroyed, or enable it again. Same DATA_DIR / DATABASE_URL /
 * SESSION_STORE configuration as the server; the server may keep running.
 *
 * SESSION_STORE=memory keeps sessions inside the running server, out of this process's reach: the
 * account is disabled (the server refuses its sessions on their next request to a signed-in page), but
 * destroying them takes POST /admin/users/disable on the running server, or a restart.
 *
 * Exit codes: 0 done; 1 bad configuration, or the database or session store failed (repeating the
 * command is safe); 2 bad arguments; 3 no user has that email.
 */
import { parseArgs } from "node:util";
import { configOrExit, exit } from "./common.js";
import { openResources, openUsers, type Resources } from "../resources.js";
import { disableUser, enableUser } from "../users/disable.js";
import { isPlausibleEmail, normalizeEmail } from "../users/repository.js";

export type AccountAction = "disable" | "enable";

export async function runAccountStatusCli(action: AccountAction): Promise<void> {
  const name = `user:${action}`;
  const usage = `usage: npm run ${name} -- --email user@example.com`;
  let values: { email?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { email: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    exit(2, `${name}: ${(error as Error).message}\n${usage}`);
  }
  if (values.help) exit(0, usage);
  const email = normalizeEmail(values.email ?? "");
  if (!email) exit(2, `${name}: --email is required\n${usage}`);
  if (!isPlausibleEmail(email)) exit(2, `${name}: ${JSON.stringify(values.email)} is not an email address`);

  const config = configOrExit(name);

  // Only disabling touches sessions, and a memory store lives in the server, not here.
  const withStore = action === "disable" && config.sessionStore !== "memory";
  let opened: Pick<Resources, "users" | "close"> & { store?: Resources["store"] };
  try {
    opened = withStore ? openResources(config) : openUsers(config);
  } catch (error) {
    exit(1, `${name}: could not open the database: ${(error as Error).message.split("\n")[0]}`);
  }
  const { users, store, close } = opened;
  try {
    const user = await users.findByEmail(email);
    if (!user) {
      await close();
      exit(3, `${name}: no user has the email ${email}; check the address (npm run user:add creates accounts)`);
    }
    if (action === "enable") {
      const wasDisabled = user.disabledAt !== null;
      await enableUser(users, user);
      await close();
      exit(0, wasDisabled ? `Enabled ${user.email}: they can log in again.` : `${user.email} was not disabled; nothing changed.`);
    }
    if (!store) {
      await users.setDisabled(user.id, true);
      await close();
      process.stderr.write(
        `${name}: SESSION_STORE=memory keeps sessions inside the running server, so this command could not end them. ` +
          "The server refuses them on their next request to a signed-in page; to destroy them now, " +
          "call POST /admin/users/disable on the running server as an admin, or restart it.\n",
      );
      exit(0, `Disabled ${user.email}; logins are refused.`);
    }
    const revoked = await disableUser(users, store, user);
    await close();
    exit(0, `Disabled ${user.email}; logins are refused and ${revoked} session${revoked === 1 ? "" : "s"} ended.`);
  } catch (error) {
    await close().catch(() => {});
    exit(1, `${name}: ${(error as Error).message.split("\n")[0]}; check that the database and session store are reachable, then run the command again (it is safe to repeat)`);
  }
}
