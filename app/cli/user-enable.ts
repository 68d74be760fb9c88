/** `npm run user:enable -- --email E`: see account-status.ts (exit 0 done, 1 config/database, 2 arguments, 3 no such user). */
import { runAccountStatusCli } from "./account-status.js";

void runAccountStatusCli("enable");
