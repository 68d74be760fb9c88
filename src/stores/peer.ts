/**
 * Loading a store's client library (an optional peer dependency) on demand. `require`, not `import`:
 * store constructors are synchronous, and the core package never pulls a database client in.
 */
import { createRequire } from "node:module";
import { SessionConfigError } from "../errors.js";

export function loadPeer<T>(packageName: string, storeName: string): T {
  // Resolved from this package's own location, in both builds: the ESM bundle's `require` is a stub
  // that throws, and the CommonJS build gets import.meta.url from tsup's shim (tsup.config.ts).
  const load = createRequire(import.meta.url);
  try {
    return load(packageName) as T;
  } catch (error) {
    throw new SessionConfigError(`${storeName} needs the ${packageName} package; run npm install ${packageName}`, "ERR_SESSIONKIT_MISSING_PEER", { cause: error });
  }
}
