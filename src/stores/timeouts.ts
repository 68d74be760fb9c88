/**
 * One timer for every store call in flight, instead of a setTimeout and a clearTimeout per call.
 *
 * Every asynchronous store call of a request is bounded by what is left of its store budget
 * (call.ts). Under load a server has a few dozen calls in flight at any moment and tens of
 * thousands start and settle each second; a Node timer per call is an object, an insertion into a
 * timer list and a removal, about 0.3 µs and a few hundred bytes of garbage per call, on a read that
 * otherwise costs a few µs. Here a call is a node of an intrusive list (added and removed in O(1),
 * no allocation beyond the node the caller already has) and one timer is armed for the earliest
 * deadline; when it fires, every overdue call is expired and the timer is armed for the next one.
 *
 * Calls are appended in the order they start and mostly share one limit (storeTimeout), so the
 * armed timer rarely needs to move: it is moved only for a call due earlier than it. A timer that
 * fires for a call which has settled since finds nothing overdue and is armed again; so under steady
 * load the timer fires about once per storeTimeout, whatever the request rate.
 *
 * The list is walked only when the timer fires, and holds only calls in flight (settled calls are
 * removed at once), so the walk is bounded by the concurrency, not by the request rate.
 *
 * The timer keeps the process alive only while a call is pending, as a per-call timer did: it is
 * unref'd, not cleared, when the last call settles (clearing and re-creating it would cost the
 * per-call timer again at low concurrency).
 */

/** A pending call: its deadline (performance.now() ms) and what to do when it passes. */
export interface PendingCall {
  at: number;
  /** Called once, from the timer, if the call is still in the list at its deadline. */
  expire(): void;
  /** List links, owned by the list. */
  prev: PendingCall | undefined;
  next: PendingCall | undefined;
  listed: boolean;
}

export class TimeoutList {
  #head: PendingCall | undefined;
  #tail: PendingCall | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for; Infinity when it is not armed. */
  #armedAt = Number.POSITIVE_INFINITY;
  readonly #onTimer = (): void => this.#fire();

  /** Starts watching `call` (not already listed): its `expire` runs once its deadline has passed. */
  add(call: PendingCall): void {
    call.prev = this.#tail;
    call.next = undefined;
    call.listed = true;
    if (this.#tail) this.#tail.next = call;
    else {
      this.#head = call;
      this.#timer?.ref();
    }
    this.#tail = call;
    if (call.at < this.#armedAt) this.#arm(call.at);
  }

  /** Stops watching `call` (it settled). Calling it for a call no longer listed does nothing. */
  remove(call: PendingCall): void {
    if (!call.listed) return;
    call.listed = false;
    if (call.prev) call.prev.next = call.next;
    else this.#head = call.next;
    if (call.next) call.next.prev = call.prev;
    else this.#tail = call.prev;
    call.prev = call.next = undefined;
    if (!this.#head) this.#timer?.unref();
  }

  #arm(at: number): void {
    this.#armedAt = at;
    const delay = Math.max(0, at - performance.now());
    // Re-armed in place: a Timeout whose delay changes needs a new one (refresh keeps the old delay).
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#onTimer, delay);
  }

  #fire(): void {
    // The timer fired for #armedAt: that deadline has passed even where the clock says otherwise
    // (Node may fire a timer a fraction of a millisecond early, and test suites fake timers).
    const now = Math.max(performance.now(), this.#armedAt);
    this.#armedAt = Number.POSITIVE_INFINITY;
    this.#timer = undefined;
    const expired: PendingCall[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (let call = this.#head; call; ) {
      const following = call.next;
      if (call.at <= now) {
        this.remove(call);
        expired.push(call);
      } else if (call.at < next) next = call.at;
      call = following;
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
    // After the list is consistent again: an expiry may start or settle other calls.
    for (const call of expired) call.expire();
  }
}

/** The process's one list: every bundle of the package may hold its own, which is harmless. */
export const pendingCalls = new TimeoutList();
