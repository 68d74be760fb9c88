/**
 * `ctx.sessionOptions`: one request's view of the options. As in koa-session, what shapes the cookie
 * and when it is re-sent can change for one request (a tenant's cookie domain, a "remember me"
 * maxAge); the change is validated as session() validates it, and applies to this request's
 * Set-Cookie only. What decides where sessions live and how they are signed (key, store, mode,
 * keys, hooks, …) is fixed in session(): assigning it throws instead of being silently ignored.
 */
import { SessionConfigError } from "../errors.js";
import type { MaxAge } from "../stores/contract.js";
import { cookieAttributes, type ResolvedOptions } from "./options.js";

/** What `ctx.sessionOptions` shows: the options, with `maxAge` read and written through this request. */
export type SessionOptionsView = Omit<ResolvedOptions, "maxAge"> & { maxAge: MaxAge | undefined };

/** The controller behind the view: this request's options and lifetime. */
export interface OptionsHost {
  readonly options: ResolvedOptions;
  /** Use these options for the rest of this request (the shared ones are never changed). */
  replaceOptions(next: ResolvedOptions): void;
  maxAge: MaxAge | undefined;
}

const COOKIE_ATTRIBUTES = ["secure", "sameSite", "path", "domain", "priority", "partitioned"] as const;
const BOOLEANS = ["httpOnly", "overwrite", "rolling", "renew"] as const;
/** What a request may change, besides maxAge. */
const PER_REQUEST: ReadonlySet<string> = new Set<string>([...COOKIE_ATTRIBUTES, ...BOOLEANS]);
const PER_REQUEST_LIST = ["maxAge", ...COOKIE_ATTRIBUTES, ...BOOLEANS].join(", ");

function misuse(message: string): never {
  throw new SessionConfigError(message, "ERR_SESSIONKIT_MISUSE");
}

/** `options` with `name` set to `value`, checked together with the other cookie attributes. */
function withOption(options: ResolvedOptions, name: string, value: unknown): ResolvedOptions {
  if (!PER_REQUEST.has(name)) {
    misuse(`ctx.sessionOptions.${name} can't change for one request: it is fixed when session() is called. Per request you can change ${PER_REQUEST_LIST}`);
  }
  const plainSwitch = (BOOLEANS as readonly string[]).includes(name);
  // secure may also go back to undefined: Secure exactly when the request is HTTPS.
  if ((plainSwitch || name === "partitioned" || (name === "secure" && value !== undefined)) && typeof value !== "boolean") {
    misuse(`ctx.sessionOptions.${name} must be true or false, got ${JSON.stringify(value)}`);
  }
  if (plainSwitch) return Object.freeze({ ...options, [name]: value });
  const input = { secure: options.secure, sameSite: options.sameSite, path: options.path, domain: options.domain, priority: options.priority, partitioned: options.partitioned, [name]: value };
  try {
    return Object.freeze({ ...options, ...cookieAttributes(options.key, input) });
  } catch (error) {
    if (!(error instanceof SessionConfigError)) throw error;
    misuse(`ctx.sessionOptions.${name}: ${error.message.replace(/^koa-sessionkit: /, "")}`);
  }
}

/** Made on the first read of ctx.sessionOptions in a request; most requests never look. */
export function sessionOptionsView(host: OptionsHost): SessionOptionsView {
  const view = {} as SessionOptionsView;
  for (const name of Object.keys(host.options) as (keyof ResolvedOptions)[]) {
    const property: PropertyDescriptor =
      name === "maxAge"
        ? { get: () => host.maxAge, set: (value: MaxAge | undefined) => (host.maxAge = value) }
        : { get: () => host.options[name], set: (value: unknown) => host.replaceOptions(withOption(host.options, name, value)) };
    Object.defineProperty(view, name, { ...property, enumerable: true });
  }
  return view;
}
