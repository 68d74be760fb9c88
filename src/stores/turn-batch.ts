/**
 * Store commands issued in one turn of the event loop, sent to Redis as a few commands, not one per call.
 *
 * Under load a server parses many requests per turn, one socket callback each, and each starts with
 * the same read and may end with the same kind of write. ioredis's auto-pipelining groups only the
 * commands of one callback (it flushes on process.nextTick), so each request still paid for its own
 * command object, timer, socket write and reply: on the benchmark's read path that was most of what a
 * Redis session cost over bare Koa. A TurnBatch collects the calls made before the turn's check phase
 * (setImmediate) and sends them together (RedisStore: reads as one MGET, compare-and-sets as one
 * script over many keys); each caller still gets its own promise and result, and its own timeout
 * (stores/call.ts).
 *
 * A batch leaves as soon as it holds MAX_BATCH calls, the rest of the turn's at setImmediate. Sending
 * a whole busy turn as one command at its end made every connection wait for the same reply: the
 * server parsed the turn's requests, sent one MGET, and then sat idle for Redis's round trip with
 * nothing else to do, so the connections moved in lockstep. Sending the first calls while the later
 * requests are still being parsed overlaps that round trip with work (measured side by side: 5 %
 * more Redis reads and 8 % more Redis writes per second at the same CPU per request, with batches of
 * 8 against one command per turn; 16 gave less).
 *
 * Order is kept: calls leave in the order they were made, on one connection, so a chain of
 * compare-and-sets on one session (cas-chain.ts) still reaches Redis link after link. A call can
 * only move later, never ahead of a call made earlier on the same TurnBatch: a read sees the same or
 * newer data than it would have unbatched, and a compare-and-set that now lands after another
 * writer's command fails and retries as it would have had it lost the race. A lone call goes out as
 * its single-key form.
 */

/** Calls per command: a batch is sent as soon as it holds this many. */
export const MAX_BATCH = 8;

export class TurnBatch<In, Raw, Out = Raw> {
  #inputs: In[] = [];
  // Parallel arrays, not a { resolve, reject } object per call: one allocation fewer per read.
  #resolves: ((value: Out) => void)[] = [];
  #rejects: ((error: unknown) => void)[] = [];
  #scheduled = false;
  readonly #flush = () => this.#flushTurn();

  /**
   * @param one sends a single call (its usual single-key command)
   * @param many sends 2 to MAX_BATCH calls as one command; resolves one result per input, in order
   * @param decode turns one raw result (and the call's input) into the caller's (RedisStore: the text read under a key into a session), so a
   *   caller needs no `.then` of its own: one promise and one microtask fewer per call. When it throws,
   *   that call alone rejects with the error.
   */
  constructor(
    private readonly one: (input: In) => Promise<Raw>,
    private readonly many: (inputs: In[]) => Promise<Raw[]>,
    private readonly decode?: (raw: Raw, input: In) => Out,
  ) {}

  /** `input`'s result, sent with the other calls of this turn (at most MAX_BATCH to a command). */
  call(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#inputs.push(input);
      this.#resolves.push(resolve);
      this.#rejects.push(reject);
      if (this.#inputs.length >= MAX_BATCH) this.#send();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  /** At the turn's check phase: whatever is left of it. */
  #flushTurn(): void {
    this.#scheduled = false;
    if (this.#inputs.length > 0) this.#send();
  }

  #send(): void {
    const inputs = this.#inputs;
    const resolves = this.#resolves;
    const rejects = this.#rejects;
    this.#inputs = [];
    this.#resolves = [];
    this.#rejects = [];
    if (inputs.length === 1) {
      attempt(() => this.one(inputs[0] as In)).then((raw) => this.#settle(raw, inputs[0] as In, resolves[0], rejects[0]), rejects[0]);
      return;
    }
    attempt(() => this.many(inputs)).then(
      (results) => {
        for (let i = 0; i < inputs.length; i++) this.#settle(results[i] as Raw, inputs[i] as In, resolves[i], rejects[i]);
      },
      (error: unknown) => {
        for (const reject of rejects) reject(error);
      },
    );
  }

  #settle(raw: Raw, input: In, resolve: ((value: Out) => void) | undefined, reject: ((error: unknown) => void) | undefined): void {
    const decode = this.decode;
    if (decode === undefined) return (resolve as (value: Out) => void)(raw as unknown as Out);
    let value: Out;
    try {
      value = decode(raw, input);
    } catch (error) {
      return (reject as (error: unknown) => void)(error);
    }
    (resolve as (value: Out) => void)(value);
  }
}

/** A client that throws instead of rejecting (a closed or misconfigured one) must not crash the turn. */
function attempt<T>(run: () => Promise<T>): Promise<T> {
  try {
    return run();
  } catch (error) {
    return Promise.reject(error);
  }
}
