/** The core scenarios with sessions (and the login throttle) in Redis, and in PostgreSQL (with users there too). */
import { describe } from "vitest";
import { DATABASE_URL, REDIS_URL, requireService } from "../helpers/services.js";
import { coreScenarios } from "./scenarios.js";

const redisUp = await requireService("redis");
const postgresUp = await requireService("postgres");

describe.skipIf(!redisUp)("SESSION_STORE=redis", () => {
  coreScenarios("redis", () => ({ SESSION_STORE: "redis", REDIS_URL }));
});

describe.skipIf(!postgresUp)("SESSION_STORE=postgres, users in PostgreSQL", () => {
  coreScenarios("postgres", () => ({ SESSION_STORE: "postgres", DATABASE_URL }));
});
