/**
 * The Koa application as koa-sessionkit's signatures name it. A structural type rather than
 * `import Koa from "koa"`: any `new Koa<State, Context>()` fits (Koa 2 or 3, a custom context type
 * included, as koa-session's `app: any` accepted), and the published .d.ts needs no
 * `esModuleInterop` to read it.
 */

/** What koa-sessionkit uses of a Koa application: its context prototype, keys and events. */
export interface KoaApp {
  /** The prototype of every request's `ctx`; session() defines `ctx.session` on it. */
  context: object;
  /** `app.keys`: the signing keys (an array, or koa-sessionkit's `keyring()`). */
  keys?: unknown;
  /** `app.use(middleware)`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any middleware signature of any Koa version
  use(middleware: any): unknown;
  /** Koa's application events (`error`, `session:missed`, …). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own listener type
  on(event: string | symbol, listener: (...args: any[]) => void): unknown;
  /** Emit an application event. */
  emit(event: string | symbol, ...args: unknown[]): boolean;
}
