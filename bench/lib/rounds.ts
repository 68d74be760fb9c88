/**
 * The rounds of a benchmark run. Every warm case's server is started once and stays up (idle while
 * another case is measured; all are pinned to the same core); a round then measures each case for a
 * short window in CASES order, and the next round does it again. A compared pair is thus measured
 * seconds apart, many times: this VM changes speed in steps every minute or so, and a pair measured
 * ten seconds apart, three times (the earlier design: a fresh server per case per round) straddled
 * such a step in two of three rounds of one run. A cold case measures a fresh start, so it keeps a
 * fresh server (and Redis) per round, back to back with its peer, after the warm rounds.
 */
import type { CaseDef } from "./cases.js";
import { countStoreOps, prepareCase, runCase, timedRun, warm, type Environment, type Prepared, type RunOptions, type TimedRun } from "./measure.js";
import type { CaseRun } from "./report.js";

export interface RoundOptions extends RunOptions {
  rounds: number;
  coldRounds: number;
  /** Load before each window, not measured (a case's server idled while the others ran). */
  windowWarmup: number;
}

export interface Measured {
  runs: Map<string, CaseRun[]>;
  skipped: Map<string, string>;
}

const firstLine = (error: unknown): string => `error: ${(error as Error).message.split("\n")[0] ?? ""}`;

function logRun(label: string, name: string, run: TimedRun | CaseRun): void {
  const counts = "reads" in run ? `, reads ${run.reads?.toFixed(3) ?? "–"}, writes ${run.writes?.toFixed(3) ?? "–"}` : "";
  console.error(
    `[${label}] ${name}: ${run.load.reqPerSec.toFixed(0)} req/s, server CPU ${run.serverCpuPct ?? "–"} %, ` +
      `${run.serverCpuUs?.toFixed(1) ?? "–"} µs/req, p50 ${run.load.p50Ms} ms, p99 ${run.load.p99Ms} ms${counts}` +
      (run.load.non2xx + run.load.errors > 0 ? `, non2xx ${run.load.non2xx}, errors ${run.load.errors}` : ""),
  );
}

export async function measureRounds(selected: readonly CaseDef[], env: Environment, options: RoundOptions): Promise<Measured> {
  const runs = new Map<string, CaseRun[]>();
  const skipped = new Map<string, string>();
  await measureWarm(selected.filter((def) => def.cold !== true), env, options, runs, skipped);
  const cold = selected.filter((def) => def.cold === true);
  for (let round = 1; round <= options.coldRounds; round++) {
    for (const def of cold) {
      if (skipped.has(def.name)) continue;
      const outcome = await runCase(def, env, options).catch((error: unknown) => ({ skipped: firstLine(error) }));
      if ("skipped" in outcome) {
        skipped.set(def.name, outcome.skipped);
        console.error(`[cold ${round}/${options.coldRounds}] ${def.name}: skipped (${outcome.skipped})`);
        continue;
      }
      runs.set(def.name, [...(runs.get(def.name) ?? []), outcome]);
      logRun(`cold ${round}/${options.coldRounds}`, def.name, outcome);
    }
  }
  return { runs, skipped };
}

async function measureWarm(cases: readonly CaseDef[], env: Environment, options: RoundOptions, runs: Map<string, CaseRun[]>, skipped: Map<string, string>): Promise<void> {
  let live: Prepared[] = [];
  const drop = async (prepared: Prepared, reason: string): Promise<void> => {
    skipped.set(prepared.def.name, reason);
    live = live.filter((entry) => entry !== prepared);
    await prepared.close();
  };
  try {
    for (const def of cases) {
      const outcome = await prepareCase(def, env, options).catch((error: unknown) => ({ skipped: firstLine(error) }));
      if ("skipped" in outcome) {
        skipped.set(def.name, outcome.skipped);
        console.error(`[start] ${def.name}: skipped (${outcome.skipped})`);
      } else live.push(outcome);
    }
    const timed = new Map<string, TimedRun[]>();
    for (let round = 1; round <= options.rounds; round++) {
      for (const prepared of [...live]) {
        try {
          if (options.windowWarmup > 0) await warm(prepared, options.windowWarmup);
          const run = await timedRun(prepared, options.duration);
          timed.set(prepared.def.name, [...(timed.get(prepared.def.name) ?? []), run]);
          logRun(`${round}/${options.rounds}`, prepared.def.name, run);
        } catch (error) {
          await drop(prepared, firstLine(error));
          console.error(`[${round}/${options.rounds}] ${prepared.def.name}: dropped (${firstLine(error)})`);
        }
      }
    }
    // Store operations are a property of the code, not of the moment: counted once per case.
    for (const prepared of [...live]) {
      try {
        const counts = await countStoreOps(prepared);
        runs.set(prepared.def.name, (timed.get(prepared.def.name) ?? []).map((run) => ({ ...run, ...counts })));
        console.error(`[count] ${prepared.def.name}: reads ${counts.reads?.toFixed(3) ?? "–"}, writes ${counts.writes?.toFixed(3) ?? "–"} per request`);
      } catch (error) {
        await drop(prepared, firstLine(error));
        console.error(`[count] ${prepared.def.name}: dropped (${firstLine(error)})`);
      }
    }
  } finally {
    for (const prepared of live) await prepared.close();
  }
}
