import type { Readable } from 'node:stream';
import {
  CancelledError,
  type RequestContext,
  RpcPeer,
  type Stream,
  TimeoutError,
} from '@plugwire/core';
import createDebug from 'debug';
import { fromRemote, InvalidMarkerError } from './errors.js';
import {
  checkMarker,
  hasMarkers,
  isMarker,
  isRetained,
  kindOf,
  MARK,
  type Marker,
  needsMarshal,
  type Wire,
} from './markers.js';
import { methodNameProblem, ownMethodNames } from './names.js';
import { ItemReceiver, sendBytes, sendItems } from './streams.js';

// Calls across the connection: the caller's side (callRemote, remoteObject) and the callee's
// (serveMethods), and the functions and objects that travel by reference as callbacks.

const debug = createDebug('plugwire:sdk');

/**
 * Most markers one message may carry (the arguments of one call). Each costs a broker stream
 * and a dial; a peer must not make this side open thousands at once. Real calls pass one or
 * two callbacks or streams.
 */
export const MAX_MARKERS_PER_MESSAGE = 64;

/**
 * The broker resources of one outgoing call: callback servers that end with the call, and
 * accepts that stop waiting when it ends.
 */
class CallScope {
  readonly #cleanups: Array<() => void> = [];
  readonly #abort = new AbortController();

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  onEnd(fn: () => void): void {
    this.#cleanups.push(fn);
  }

  end(): void {
    this.#abort.abort(new Error('the call has ended'));
    for (const fn of this.#cleanups) fn();
  }
}

// ---- marshalling: values out -----------------------------------------------------------

/**
 * Replaces special values (top level only) by markers and serves them on the broker.
 * @throws TypeError for more than MAX_MARKERS_PER_MESSAGE of them, which the receiver refuses.
 */
function marshalValues(args: readonly unknown[], wire: Wire, scope: CallScope): unknown[] {
  let n = 0;
  for (const a of args) if (kindOf(a) !== undefined) n++;
  if (n > MAX_MARKERS_PER_MESSAGE) {
    throw new TypeError(
      `a call passes ${n} functions, references or streams; at most ${MAX_MARKERS_PER_MESSAGE}`,
    );
  }
  return args.map((a) => marshal(a, wire, scope));
}

function marshal(value: unknown, wire: Wire, scope: CallScope | undefined): unknown {
  const kind = kindOf(value);
  if (!kind) return value;
  const id = wire.broker.nextId();
  const retained = scope === undefined || isRetained(value as object);
  // Results (no scope) and retained callbacks live on; the others end with the call.
  const accepting = wire.broker.accept(id, retained ? {} : { signal: scope!.signal });
  const failed = (err: Error) =>
    debug('%s: nobody took broker id %d: %s', wire.plugin, id, err.message);
  if (kind === 'bytes') {
    const source = value as Readable;
    accepting.then(
      (stream) => sendBytes(stream, source),
      (err: Error) => {
        failed(err);
        source.destroy();
      },
    );
    return { [MARK]: 'bytes', id };
  }
  if (kind === 'iter') {
    accepting.then((stream) => sendItems(stream, value as AsyncIterable<unknown>, wire), failed);
    return { [MARK]: 'iter', id };
  }
  const target =
    kind === 'fn'
      ? { call: value as (...a: unknown[]) => unknown }
      : (value as Record<string, (...a: unknown[]) => unknown>);
  const methods = kind === 'fn' ? ['call'] : ownMethodNames(value as object);
  accepting.then((stream) => {
    const peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:callback` });
    serveMethods(peer, target, methods, wire);
    if (!retained) scope!.onEnd(() => void peer.close());
  }, failed);
  return kind === 'fn' ? { [MARK]: 'fn', id } : { [MARK]: 'obj', id, methods };
}

// ---- unmarshalling: values in ----------------------------------------------------------

interface Unmarshalled {
  value: unknown;
  /** Frees the stream when the value is not handed out after all. */
  dispose(): void;
}

/**
 * Rebuilds the value of a marker from the other side: checks it, dials its stream (within
 * `signal`), and returns a proxy or a stream.
 */
async function unmarshal(m: Marker, wire: Wire, signal?: AbortSignal): Promise<Unmarshalled> {
  checkMarker(m, wire);
  const stream: Stream = await wire.broker.dial(m.id, signal ? { signal } : {});
  const dispose = () => stream.destroy();
  switch (m.$plugwire) {
    case 'bytes':
      stream.end(); // a byte stream goes one way: half-close the direction we never use
      return { value: stream, dispose };
    case 'iter':
      return { value: new ItemReceiver(stream, wire), dispose };
    case 'fn': {
      const peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:callback` });
      const fn = (...args: unknown[]) => callRemote(peer, 'call', args, wire);
      return { value: Object.assign(fn, { release: () => peer.close() }), dispose };
    }
    default: {
      const peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:callback` });
      const obj = remoteObject(peer, m.methods!, wire) as Record<string, unknown>;
      obj.release = () => peer.close();
      return { value: obj, dispose };
    }
  }
}

/**
 * Rebuilds the arguments of a served call. Every marker is checked before anything is
 * dialled; if one dial fails, the streams already dialled are closed.
 */
async function unmarshalArgs(
  values: readonly unknown[],
  wire: Wire,
  signal: AbortSignal,
): Promise<unknown[]> {
  let markers = 0;
  for (const v of values) {
    if (!isMarker(v)) continue;
    if (++markers > MAX_MARKERS_PER_MESSAGE) {
      throw new InvalidMarkerError(
        wire.plugin,
        `more than ${MAX_MARKERS_PER_MESSAGE} remote values in one call`,
      );
    }
    checkMarker(v, wire);
  }
  const settled = await Promise.allSettled(
    values.map((v) => (isMarker(v) ? unmarshal(v, wire, signal) : undefined)),
  );
  const failure = settled.find((s) => s.status === 'rejected');
  if (failure) {
    for (const s of settled) if (s.status === 'fulfilled') s.value?.dispose();
    throw (failure as PromiseRejectedResult).reason;
  }
  return values.map((v, i) =>
    isMarker(v) ? (settled[i] as PromiseFulfilledResult<Unmarshalled>).value.value : v,
  );
}

/**
 * Rebuilds a call's result. The call's timeout and signal cover this too: a result whose
 * stream the other side never acknowledges fails the call when its time is up.
 */
async function unmarshalResult(
  m: Marker,
  method: string,
  options: CallOptions | undefined,
  started: number,
  wire: Wire,
): Promise<unknown> {
  const timeout = options?.timeout;
  const signal = options?.signal;
  if (timeout === undefined && signal === undefined) return (await unmarshal(m, wire)).value;
  const ac = new AbortController();
  const onAbort = () => ac.abort(new CancelledError(method, signal!.reason));
  let timer: NodeJS.Timeout | undefined;
  if (timeout !== undefined) {
    const left = Math.max(0, timeout - (performance.now() - started));
    timer = setTimeout(() => ac.abort(new TimeoutError(method, timeout)), left);
  }
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return (await unmarshal(m, wire, ac.signal)).value;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

// ---- the caller's side -----------------------------------------------------------------

/** Options every remote method accepts as an extra last argument. */
export interface CallOptions {
  /** Aborting cancels the call on both sides (`$/cancelRequest`). */
  signal?: AbortSignal;
  /**
   * Milliseconds for the whole call, including dialling the stream of a returned callback,
   * object or stream; then the call rejects with TimeoutError and is cancelled remotely.
   */
  timeout?: number;
}

function isCallOptions(v: unknown): v is CallOptions {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) {
    return false;
  }
  let n = 0;
  for (const key in v) {
    const x = (v as Record<string, unknown>)[key];
    if (
      key === 'signal'
        ? !(x instanceof AbortSignal)
        : key === 'timeout'
          ? typeof x !== 'number'
          : true
    ) {
      return false;
    }
    n++;
  }
  return n > 0;
}

/** Calls `method` with positional `args` (and optional trailing CallOptions). */
export function callRemote(
  peer: RpcPeer,
  method: string,
  args: unknown[],
  wire: Wire,
): Promise<unknown> {
  let options: CallOptions | undefined;
  if (args.length > 0 && isCallOptions(args[args.length - 1])) {
    options = args[args.length - 1] as CallOptions;
    args = args.slice(0, -1);
  }
  if (needsMarshal(args)) return callWithScope(peer, method, args, options, wire);
  // Plain data (the common case): no scope and no async frame of our own, one `then`.
  const started = options?.timeout === undefined ? 0 : performance.now();
  try {
    return peer.request(method, args, options).then(
      (result) =>
        isMarker(result) ? unmarshalResult(result, method, options, started, wire) : result,
      (err) => {
        throw fromRemote(err, method, wire.plugin);
      },
    );
  } catch (err) {
    return Promise.reject(fromRemote(err, method, wire.plugin));
  }
}

/** A call with callbacks or streams among its arguments: they live as long as the call. */
async function callWithScope(
  peer: RpcPeer,
  method: string,
  args: unknown[],
  options: CallOptions | undefined,
  wire: Wire,
): Promise<unknown> {
  const scope = new CallScope();
  const started = options?.timeout === undefined ? 0 : performance.now();
  try {
    let result: unknown;
    try {
      result = await peer.request(method, marshalValues(args, wire, scope), options);
    } catch (err) {
      throw fromRemote(err, method, wire.plugin);
    }
    return isMarker(result)
      ? await unmarshalResult(result, method, options, started, wire)
      : result;
  } finally {
    scope.end();
  }
}

/**
 * A proxy whose methods call the remote: the listed `methods` (already checked), or
 * (without a list) any valid method name, resolved on use. It is never a thenable: `then`
 * is not a valid method name.
 */
export function remoteObject(
  peer: RpcPeer,
  methods: readonly string[] | undefined,
  wire: Wire,
): object {
  if (methods) {
    const obj: Record<string, unknown> = {};
    for (const m of methods) obj[m] = (...args: unknown[]) => callRemote(peer, m, args, wire);
    return obj;
  }
  const cache = new Map<string, unknown>();
  return new Proxy(
    {},
    {
      get(target, prop) {
        if (typeof prop !== 'string') return Reflect.get(target, prop);
        let fn = cache.get(prop);
        if (fn) return fn;
        // `then`, `toJSON`, `constructor`, `toString`…: what a plain object has, so that
        // `await remote` and `String(remote)` do what they do with any object.
        if (methodNameProblem(prop) !== undefined) return Reflect.get(target, prop);
        fn = (...args: unknown[]) => callRemote(peer, prop, args, wire);
        cache.set(prop, fn);
        return fn;
      },
    },
  );
}

// ---- the callee's side -----------------------------------------------------------------

/**
 * Serves `methods` of `target` on `peer`, unmarshalling arguments and marshalling results.
 * `onCall` gets the request's context: read its `signal` only when needed, as the peer
 * creates the AbortController on first read (an eager read cost ~10% of a plugin's CPU at
 * 64 calls in flight, in the controller and the garbage it leaves).
 *
 * A method that returns a plain value is answered synchronously (the peer replies at once,
 * without tracking the request for cancellation); only a promise, or arguments that need
 * streams dialled first, make the handler asynchronous.
 */
export function serveMethods(
  peer: RpcPeer,
  target: Record<string, (...args: unknown[]) => unknown>,
  methods: readonly string[],
  wire: Wire,
  onCall?: (method: string, args: unknown[], rctx: RequestContext) => unknown,
): void {
  const marshalResult = (result: unknown) => marshal(result, wire, undefined);
  for (const method of methods) {
    const invoke = (args: unknown[], rctx: RequestContext): unknown => {
      const result = onCall ? onCall(method, args, rctx) : target[method]!.apply(target, args);
      if (typeof result !== 'object' && typeof result !== 'function') return result; // data
      return isThenable(result)
        ? Promise.resolve(result).then(marshalResult)
        : marshal(result, wire, undefined);
    };
    peer.handle(method, (params: unknown, rctx) => {
      const args = Array.isArray(params) ? params : params === undefined ? [] : [params];
      if (hasMarkers(args)) {
        return unmarshalArgs(args, wire, rctx.signal).then((a) => invoke(a, rctx));
      }
      return invoke(args, rctx);
    });
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as PromiseLike<unknown>).then === 'function'
  );
}
