/** What the route modules share. */
import type { AppConfig } from "../config.js";
import type { UserRepository } from "../users/repository.js";

import type { LoginThrottle } from "../../src/auth/index.js";

export interface RouteDeps {
  config: AppConfig;
  users: UserRepository;
  throttle: LoginThrottle;
}

/** New passwords: at least this many characters (code points), at most 1024 bytes. */
export const MIN_PASSWORD_LENGTH = 8;
