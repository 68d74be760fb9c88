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
/** ASVS 4.0.3 V2.1.1 (5.0: 6.2.1): at least 12 characters. */
export const MIN_PASSWORD_LENGTH = 12;
