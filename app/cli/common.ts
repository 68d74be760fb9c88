/** What the app's CLIs share: how they end, and reading the server's configuration (not a CLI itself). */
import { ConfigError, parseConfig, type AppConfig } from "../config.js";

/** Print `message` (stdout on success, stderr otherwise) and exit with `code`. */
export function exit(code: number, message: string): never {
  (code === 0 ? process.stdout : process.stderr).write(`${message}\n`);
  process.exit(code);
}

/** The server's configuration from the environment; a bad one exits 1 with its message. */
export function configOrExit(name: string): AppConfig {
  try {
    // Keys are not needed by the CLIs, so no key file is generated here (parseConfig, not loadConfig).
    return parseConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) exit(1, `${name}: ${error.message}`);
    throw error;
  }
}
