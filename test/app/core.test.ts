import { coreScenarios } from "./scenarios.js";

coreScenarios("memory", () => ({ SESSION_STORE: "memory" }));
coreScenarios("sqlite", () => ({ SESSION_STORE: "sqlite" }));
