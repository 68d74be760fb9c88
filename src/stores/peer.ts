/**
 * Loading a store's client library (an optional peer dependency) on demand. `require`, not `import`:
 * store constructors are synchronous, and the core package never pulls a database client in.
 */
import { createRequire } from "node:module";

export function loadPeer<T>(packageName: string, storeName: string): T {
  // The ESM build has import.meta.url (its bundler's `require` is a stub that throws); the CJS build
  // has an empty import.meta and a real `require`.
  const url = (import.meta as { url?: string }).url;
  const load = url ? createRequire(url) : require;
  try {
    return load(packageName) as T;
  } catch (error) {
    throw new Error(`koa-sessionkit: ${storeName} needs the ${packageName} package; run npm install ${packageName}`, { cause: error });
  }
}
