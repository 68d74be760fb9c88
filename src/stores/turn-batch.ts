/**
 * Store commands issued in one turn of the event loop, sent to Redis as one command.
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
 * Order is kept: calls leave in the order they were made, on one connection, so a chain of
 * compare-and-sets on one session (cas-chain.ts) still reaches Redis link after link. A call can
 * only move later within its turn: a read sees the same or newer data than it would have unbatched,
 * and a compare-and-set that now lands after another writer's command fails and retries as it
 * would have had it lost the race. A lone call goes out as its single-key form.
 */

/** Calls per command: bounds one command's size (and the wait of the first caller) in a busy turn. */
export const MAX_BATCH = 128;

interface Waiter<Out> {
  resolve: (value: Out) => void;
  reject: (error: unknown) => void;
}

export class TurnBatch<In, Out> {
  #inputs: In[] = [];
  #waiters: Waiter<Out>[] = [];
  #scheduled = false;
  readonly #flush = () => this.#send();

  /**
   * @param one sends a single call (its usual single-key command)
   * @param many sends 2 to MAX_BATCH calls as one command; resolves one result per input, in order
   */
  constructor(
    private readonly one: (input: In) => Promise<Out>,
    private readonly many: (inputs: In[]) => Promise<Out[]>,
  ) {}

  /** `input`'s result, sent with the other calls of this turn. */
  call(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#inputs.push(input);
      this.#waiters.push({ resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  #send(): void {
    this.#scheduled = false;
    const inputs = this.#inputs;
    const waiters = this.#waiters;
    this.#inputs = [];
    this.#waiters = [];
    for (let start = 0; start < inputs.length; start += MAX_BATCH) {
      const end = Math.min(start + MAX_BATCH, inputs.length);
      if (end - start === 1) {
        const waiter = waiters[start] as Waiter<Out>;
        attempt(() => this.one(inputs[start] as In)).then(waiter.resolve, waiter.reject);
        continue;
      }
      const batch = start === 0 && end === inputs.length ? inputs : inputs.slice(start, end);
      attempt(() => this.many(batch)).then(
        (results) => {
          for (let i = start; i < end; i++) (waiters[i] as Waiter<Out>).resolve(results[i - start] as Out);
        },
        (error: unknown) => {
          for (let i = start; i < end; i++) (waiters[i] as Waiter<Out>).reject(error);
        },
      );
    }
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
