/**
 * Server CPU, read from outside the server: /proc/<pid>/stat (utime + stime of every thread of the
 * process) sampled over fixed intervals while the load runs. It needs nothing from the server, so it
 * measures Koa, Express and Fastify the same way, and it shows whether the server was saturated: a
 * server that is idle part of the time is measuring the load generator, not itself.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Kernel clock ticks per second (utime/stime unit); 100 on every usual Linux build. */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Sampling interval: 500 ms is 50 ticks at 100 %, so one sample resolves about 2 % of a core. */
const INTERVAL_MS = 500;

/** CPU seconds (user + system) the process has used so far, or undefined when /proc can't tell. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of this process's children that have exited and been reaped (cutime + cstime): the
 * difference around one generator run is that generator's own CPU.
 */
export function reapedChildrenCpuSeconds(): number | undefined {
  try {
    const text = readFileSync("/proc/self/stat", "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // cutime and cstime are fields 16 and 17 of the whole line.
    return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export interface CpuWindow {
  /** CPU seconds the process used over the whole window. */
  seconds: number;
  /** Share of one core per interval, in %: its median is the case's `serverCpuPct`. */
  samplesPct: number[];
}

/** Starts sampling `pid`; stop() ends the window. Undefined results mean /proc is not available. */
export function sampleCpu(pid: number): { stop: () => CpuWindow | undefined } {
  const first = processCpuSeconds(pid);
  const samplesPct: number[] = [];
  let last = first;
  let lastAt = performance.now();
  const timer = setInterval(() => {
    const now = processCpuSeconds(pid);
    const at = performance.now();
    if (now !== undefined && last !== undefined) samplesPct.push((100 * (now - last)) / ((at - lastAt) / 1000));
    last = now;
    lastAt = at;
  }, INTERVAL_MS);
  return {
    stop: () => {
      clearInterval(timer);
      const end = processCpuSeconds(pid);
      if (first === undefined || end === undefined) return undefined;
      return { seconds: end - first, samplesPct };
    },
  };
}
