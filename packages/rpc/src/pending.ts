// The outgoing side of a peer: requests waiting for their response, their ids, timers and
// AbortSignal listeners.
//
// Hot-path rules (docs/rpc.md, "Performance"): O(1) table keyed by a numeric id; one closure
// per request (the Promise executor); a timer only for requests that asked for a timeout; one
// 'abort' listener per AbortSignal however many requests share it, removed when the last of
// them settles.

import { CancelledError, TimeoutError } from './errors.js';

/** An outgoing request waiting for its response. */
export class PendingRequest {
  resolve!: (value: unknown) => void;
  reject!: (reason: unknown) => void;
  timer: NodeJS.Timeout | undefined = undefined;
  signal: SignalWatch | undefined = undefined;
  readonly id: number;
  readonly method: string;
  constructor(id: number, method: string) {
    this.id = id;
    this.method = method;
  }
}

/**
 * The one 'abort' listener of a table on one AbortSignal, shared by every pending request
 * that uses the signal (an object with handleEvent: no closure per request).
 */
class SignalWatch {
  readonly requests = new Set<PendingRequest>();
  readonly table: PendingRequests;
  readonly signal: AbortSignal;
  constructor(table: PendingRequests, signal: AbortSignal) {
    this.table = table;
    this.signal = signal;
  }
  handleEvent(): void {
    const reason = this.signal.reason;
    for (const request of this.requests) {
      this.table.cancel(request, new CancelledError(request.method, reason));
    }
  }
}

function onTimeout(table: PendingRequests, request: PendingRequest, timeout: number): void {
  table.cancel(request, new TimeoutError(request.method, timeout));
}

/** The requests a peer sent and has no response to yet. */
export class PendingRequests {
  readonly #requests = new Map<number, PendingRequest>();
  readonly #signals = new Map<AbortSignal, SignalWatch>();
  /** Tells the remote that a request was cancelled here (timeout, signal). */
  readonly #onCancel: (id: number) => void;
  /** Not #private: a test starts it near the wrap-around. */
  private lastId = 0;
  #wrapped = false;

  constructor(onCancel: (id: number) => void) {
    this.#onCancel = onCancel;
  }

  get size(): number {
    return this.#requests.size;
  }

  get(id: number): PendingRequest | undefined {
    return this.#requests.get(id);
  }

  /** The id of the next request. */
  nextId(): number {
    // Ids stay within int32 (compact in msgpack, exact everywhere). After a wrap-around, an
    // id still pending (a request 2^31 calls old) is skipped.
    if (this.lastId < 0x7fffffff && !this.#wrapped) return ++this.lastId;
    this.#wrapped = true;
    do {
      this.lastId = this.lastId >= 0x7fffffff ? 1 : this.lastId + 1;
    } while (this.#requests.has(this.lastId));
    return this.lastId;
  }

  /** Registers request `id` (already sent) and returns the promise its caller gets. */
  add<R>(
    id: number,
    method: string,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<R> {
    const request = new PendingRequest(id, method);
    const promise = new Promise<R>((resolve, reject) => {
      request.resolve = resolve as (value: unknown) => void;
      request.reject = reject;
    });
    this.#requests.set(id, request);
    if (timeout !== undefined) {
      request.timer = setTimeout(onTimeout, timeout, this, request, timeout);
    }
    if (signal !== undefined) this.#watch(signal, request);
    return promise;
  }

  /** Rejects a pending request with `err` and tells the remote it was cancelled. */
  cancel(request: PendingRequest, err: Error): void {
    if (this.#requests.get(request.id) !== request) return;
    this.settle(request);
    request.reject(err);
    this.#onCancel(request.id);
  }

  /** Forgets a pending request: table entry, timer, signal listener. */
  settle(request: PendingRequest): void {
    this.#requests.delete(request.id);
    if (request.timer !== undefined) clearTimeout(request.timer);
    const watch = request.signal;
    if (watch !== undefined) {
      watch.requests.delete(request);
      if (watch.requests.size === 0) {
        watch.signal.removeEventListener('abort', watch);
        this.#signals.delete(watch.signal);
      }
    }
  }

  /** Forgets every pending request and returns them, for the caller to reject. */
  settleAll(): PendingRequest[] {
    const all = [...this.#requests.values()];
    for (const request of all) this.settle(request);
    return all;
  }

  #watch(signal: AbortSignal, request: PendingRequest): void {
    let watch = this.#signals.get(signal);
    if (watch === undefined) {
      watch = new SignalWatch(this, signal);
      this.#signals.set(signal, watch);
      signal.addEventListener('abort', watch);
    }
    watch.requests.add(request);
    request.signal = watch;
  }
}
