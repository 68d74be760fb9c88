/**
 * One timer for every store call in flight, instead of a setTimeout and a clearTimeout per call.
 *
 * Every asynchronous store call of a request is bounded by what is left of its store budget
 * (call.ts). Under load a server has a few dozen calls in flight at any moment and tens of
 * thousands start and settle each second; a Node timer per call is an object, an insertion into a
 * timer list and a removal, about 0.3 µs and a few hundred bytes of garbage per call, on a read that
 * otherwise costs a few µs. Here the calls in flight are a binary min-heap on their deadlines (the
 * call object the caller already has is the heap entry: no allocation), and one timer is armed for
 * the earliest deadline; when it fires, every call that is due is expired and the timer is armed for
 * the next one.
 *
 * A heap, not a list walked when the timer fires: deadlines are not in start order (a request's
 * second call has less of its budget left), and during an outage thousands of calls are pending with
 * deadlines spread over storeTimeout, so the timer fires every millisecond or so; a walk of every
 * pending call on each fire would burn the CPU exactly when the store is down. Adding and removing
 * cost O(log n) (a few swaps at the usual few dozen calls), a fire O(log n) per call it expires.
 *
 * Calls mostly share one limit (storeTimeout), so the armed timer rarely needs to move: it is moved
 * only for a call due earlier than it. A timer that fires for a call which has settled since finds
 * nothing due and is armed again; so under steady load the timer fires about once per
 * storeTimeout, whatever the request rate.
 *
 * The timer keeps the process alive only while a call is pending, as a per-call timer did: it is
 * unref'd, not cleared, when the last call settles (clearing and re-creating it would cost the
 * per-call timer again at low concurrency).
 */

/** A pending call: its deadline (performance.now() ms) and what to do when it passes. */
export interface PendingCall {
  readonly at: number;
  /** Called once, from the timer, if the call is still pending at its deadline. */
  expire(): void;
  /** Its place in the heap, owned by the TimeoutList; -1 when not in it. */
  slot: number;
}

export class TimeoutList {
  readonly #heap: PendingCall[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for; Infinity when it is not armed. */
  #armedAt = Number.POSITIVE_INFINITY;
  readonly #onTimer = (): void => this.#fire();

  /** How many calls are pending. */
  get size(): number {
    return this.#heap.length;
  }

  /** Starts watching `call` (not already watched): its `expire` runs once its deadline has passed. */
  add(call: PendingCall): void {
    const heap = this.#heap;
    if (heap.length === 0) this.#timer?.ref();
    call.slot = heap.length;
    heap.push(call);
    this.#up(call.slot);
    if (call.at < this.#armedAt) this.#arm(call.at);
  }

  /** Stops watching `call` (it settled). Calling it for a call no longer watched does nothing. */
  remove(call: PendingCall): void {
    const slot = call.slot;
    const heap = this.#heap;
    if (slot < 0 || heap[slot] !== call) return;
    call.slot = -1;
    const last = heap.pop() as PendingCall;
    if (last !== call) {
      heap[slot] = last;
      last.slot = slot;
      this.#down(slot);
      this.#up(last.slot);
    }
    if (heap.length === 0) this.#timer?.unref();
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
    const heap = this.#heap;
    const expired: PendingCall[] = [];
    while (heap.length > 0 && (heap[0] as PendingCall).at <= now) {
      const call = heap[0] as PendingCall;
      this.remove(call);
      expired.push(call);
    }
    if (heap.length > 0) this.#arm((heap[0] as PendingCall).at);
    // After the heap is consistent again: an expiry may start or settle other calls.
    for (const call of expired) call.expire();
  }

  #up(slot: number): void {
    const heap = this.#heap;
    const call = heap[slot] as PendingCall;
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1;
      const parent = heap[parentSlot] as PendingCall;
      if (parent.at <= call.at) break;
      heap[slot] = parent;
      parent.slot = slot;
      slot = parentSlot;
    }
    heap[slot] = call;
    call.slot = slot;
  }

  #down(slot: number): void {
    const heap = this.#heap;
    const call = heap[slot] as PendingCall;
    const length = heap.length;
    for (;;) {
      const left = 2 * slot + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && (heap[right] as PendingCall).at < (heap[left] as PendingCall).at ? right : left;
      const next = heap[child] as PendingCall;
      if (next.at >= call.at) break;
      heap[slot] = next;
      next.slot = slot;
      slot = child;
    }
    heap[slot] = call;
    call.slot = slot;
  }
}

/** The process's one list: every bundle of the package may hold its own, which is harmless. */
export const pendingCalls = new TimeoutList();
