/**
 * Placeholder registration point for the koa-session 7 legacy reader (filled in by the migration work).
 */
export {};
