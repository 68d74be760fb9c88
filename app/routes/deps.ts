/** What the route modules share. */
import type { Logger } from "pino";
import type { SessionStore } from "../../src/index.js";
import type { AppConfig } from "../config.js";
import type { UserRepository } from "../users/repository.js";

import type { LoginThrottle } from "../../src/auth/index.js";

export interface RouteDeps {
  config: AppConfig;
  users: UserRepository;
  throttle: LoginThrottle;
  /** The session store, for ending another user's sessions (admin disable). */
  store: SessionStore;
  /** For audit lines (who disabled whom); request lines come from requestLogger. */
  logger: Logger;
}
