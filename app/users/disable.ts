/**
 * Disabling an account (ASVS 5.0 7.4.2): refuse its logins and end every session it has, at once.
 * Shared by the admin endpoint (routes/admin.ts) and the CLI (cli/account-status.ts).
 *
 * The account is marked disabled before its sessions are destroyed. A login that checked the password
 * just before the mark can still save a session after destroyByUser ran; that session is refused on
 * its next request, because every route that loads the user (routes/load-user.ts) rejects a disabled
 * account and logs the session out.
 */
import type { SessionStore } from "../../src/index.js";
import type { User, UserRepository } from "./repository.js";

/** Mark `user` disabled and destroy all of its sessions in `store`; resolves how many were destroyed. */
export async function disableUser(users: UserRepository, store: SessionStore, user: User): Promise<number> {
  await users.setDisabled(user.id, true);
  return endSessionsOf(store, user.id);
}

/** Let `user` log in again. Their old sessions stay destroyed: enabling never brings one back. */
export async function enableUser(users: UserRepository, user: User): Promise<void> {
  await users.setDisabled(user.id, false);
}

/** Destroy every session of one user in the store. */
export async function endSessionsOf(store: SessionStore, userId: string): Promise<number> {
  if (typeof store.destroyByUser !== "function") {
    // Every store the app can be configured with has it; a custom store wired in by hand might not.
    throw new TypeError(
      "the session store cannot destroy a user's sessions (it has no destroyByUser); use SESSION_STORE=sqlite, redis, postgres or memory",
    );
  }
  return store.destroyByUser(userId);
}
