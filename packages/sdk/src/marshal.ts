import { Readable } from 'node:stream';
import {
  type Codec,
  ConnectionClosedError,
  type MuxBroker,
  type RequestContext,
  RpcPeer,
  type Stream,
} from '@plugwire/core';
import createDebug from 'debug';
import { fromRemote } from './errors.js';

const debug = createDebug('plugwire:sdk');

// Arguments and results that cannot travel as data travel on broker streams of their own:
// the sending side mints a broker id and waits for the other side to dial it, and puts a
// marker in the message in place of the value:
//
//   {"$plugwire": "fn",    "id": 3}                     a function; call it with method "call"
//   {"$plugwire": "obj",   "id": 5, "methods": [...]}   an object whose methods can be called
//   {"$plugwire": "bytes", "id": 7}                     a byte stream (Node Readable)
//   {"$plugwire": "iter",  "id": 9}                     an object stream (AsyncIterable)
//
// Functions and objects are served by a JSON-RPC peer on their stream; a byte stream is the
// raw bytes; an object stream is a JSON-RPC peer that receives notifications "item" [value],
// then "end" [] or "error" [{message, name, code, data}]. docs/protocol.md §8 and the guide.

export const MARK = '$plugwire';

type MarkerKind = 'fn' | 'obj' | 'bytes' | 'iter';
interface Marker {
  $plugwire: MarkerKind;
  id: number;
  methods?: string[];
}

/** What marshalling needs from the connection. */
export interface Wire {
  readonly broker: MuxBroker;
  readonly codec: Codec;
  /** Plugin name, for logs. */
  readonly plugin: string;
}

const RETAIN = Symbol('plugwire.retain');

/**
 * Marks a function or object passed as an argument to stay callable after the call
 * returns (for subscriptions: `watch(key, retain(onChange))`). It lives until the other side
 * calls `release()` on its proxy, or the connection ends. Without it, a callback argument
 * works only while the call it was passed to is running.
 */
export function retain<T extends object>(callback: T): T {
  (callback as { [RETAIN]?: true })[RETAIN] = true;
  return callback;
}

/**
 * The broker resources of one outgoing call: callback servers that end with the call, and
 * accepts that stop waiting when it ends.
 */
export class CallScope {
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

function isMarker(v: unknown): v is Marker {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Marker).$plugwire === 'string' &&
    typeof (v as Marker).id === 'number'
  );
}

/** Method names of an object: own function properties and those of its classes. */
export function methodNames(obj: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor' || names.has(key)) continue;
      const desc = Object.getOwnPropertyDescriptor(o, key);
      if (desc && typeof desc.value === 'function') names.add(key);
    }
  }
  return [...names];
}

/**
 * What kind of special value `v` is, or undefined for plain data. Plain object literals are
 * data unless every value is a function (`{ onProgress(n) {…} }`); class instances with
 * methods are callback objects.
 */
function kindOf(v: unknown): MarkerKind | undefined {
  if (typeof v === 'function') return 'fn';
  if (typeof v !== 'object' || v === null) return undefined;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || Array.isArray(v) || v instanceof Date) {
    return undefined;
  }
  if (v instanceof Readable) return v.readableObjectMode ? 'iter' : 'bytes';
  if (Symbol.asyncIterator in v) return 'iter';
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const values = Object.values(v);
    return values.length > 0 && values.every((x) => typeof x === 'function') ? 'obj' : undefined;
  }
  return methodNames(v).length > 0 ? 'obj' : undefined;
}

/** True when some value of `args` must travel on a stream of its own. */
export function needsMarshal(args: readonly unknown[]): boolean {
  for (const a of args) {
    if (typeof a === 'function' || (typeof a === 'object' && a !== null && kindOf(a))) return true;
  }
  return false;
}

/** Replaces special values (top level only) by markers and serves them on the broker. */
export function marshalValues(
  args: readonly unknown[],
  wire: Wire,
  scope: CallScope | undefined,
): unknown[] {
  return args.map((a) => marshal(a, wire, scope));
}

export function marshal(value: unknown, wire: Wire, scope: CallScope | undefined): unknown {
  const kind = kindOf(value);
  if (!kind) return value;
  const id = wire.broker.nextId();
  const retained = (value as { [RETAIN]?: true })[RETAIN] === true || scope === undefined;
  // Results (no scope) and retained callbacks live on; the others end with the call.
  const accepting = wire.broker.accept(id, retained ? {} : { signal: scope!.signal });
  const failed = (err: Error) =>
    debug('%s: nobody took broker id %d: %s', wire.plugin, id, err.message);
  if (kind === 'bytes') {
    const source = value as Readable;
    accepting.then(
      (stream) => {
        stream.resume(); // the receiver sends nothing back; let its FIN end our side
        source.pipe(stream);
        source.once('error', (e) => stream.destroy(e));
        stream.once('close', () => {
          if (!source.readableEnded) source.destroy();
        });
      },
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
  const methods = kind === 'fn' ? ['call'] : methodNames(value as object);
  accepting.then((stream) => {
    const peer = new RpcPeer(stream, {
      codec: wire.codec,
      name: `${wire.plugin}:callback`,
    });
    if (kind === 'fn') {
      serveMethods(peer, { call: value as (...a: unknown[]) => unknown }, ['call'], wire);
    } else {
      serveMethods(peer, value as Record<string, (...a: unknown[]) => unknown>, methods, wire);
    }
    if (!retained) scope!.onEnd(() => void peer.close());
  }, failed);
  return kind === 'fn' ? { [MARK]: 'fn', id } : { [MARK]: 'obj', id, methods };
}

/** Rebuilds values from markers: dials their streams and returns proxies and streams. */
export async function unmarshalValues(values: readonly unknown[], wire: Wire): Promise<unknown[]> {
  return Promise.all(values.map((v) => (isMarker(v) ? unmarshal(v, wire) : v)));
}

export function hasMarkers(values: readonly unknown[]): boolean {
  for (const v of values) if (isMarker(v)) return true;
  return false;
}

async function unmarshal(m: Marker, wire: Wire): Promise<unknown> {
  const stream = await wire.broker.dial(m.id);
  switch (m.$plugwire) {
    case 'bytes':
      stream.end(); // a byte stream goes one way: half-close the direction we never use
      return stream;
    case 'iter':
      return new ItemReceiver(stream, wire);
    case 'fn': {
      const peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:callback` });
      const fn = (...args: unknown[]) => callRemote(peer, 'call', args, wire);
      return Object.assign(fn, { release: () => peer.close() });
    }
    case 'obj': {
      const peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:callback` });
      const obj = remoteObject(peer, m.methods ?? [], wire) as Record<string, unknown>;
      obj.release = () => peer.close();
      return obj;
    }
    default:
      stream.destroy();
      throw new TypeError(`unknown marker kind "${(m as Marker).$plugwire}"`);
  }
}

// ---- calls -----------------------------------------------------------------------------

/** Options every remote method accepts as an extra last argument. */
export interface CallOptions {
  /** Aborting cancels the call on both sides (`$/cancelRequest`). */
  signal?: AbortSignal;
  /** Milliseconds; then the call rejects with TimeoutError and is cancelled remotely. */
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

function rethrowRemote(err: unknown): never {
  throw fromRemote(err);
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
  try {
    return peer
      .request(method, args, options)
      .then((result) => (isMarker(result) ? unmarshal(result, wire) : result), rethrowRemote);
  } catch (err) {
    return Promise.reject(fromRemote(err));
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
  try {
    const result = await peer.request(method, marshalValues(args, wire, scope), options);
    return isMarker(result) ? await unmarshal(result, wire) : result;
  } catch (err) {
    throw fromRemote(err);
  } finally {
    scope.end();
  }
}

/**
 * A proxy whose methods call the remote: the listed `methods`, or (without a list) any
 * property name, resolved on use.
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
      get(_t, prop) {
        // not a thenable: `await remote` must not call a remote "then"
        if (typeof prop !== 'string' || prop === 'then' || prop === 'toJSON') return undefined;
        let fn = cache.get(prop);
        if (!fn) {
          fn = (...args: unknown[]) => callRemote(peer, prop, args, wire);
          cache.set(prop, fn);
        }
        return fn;
      },
    },
  );
}

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
      if (hasMarkers(args)) return unmarshalValues(args, wire).then((a) => invoke(a, rctx));
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

// ---- object streams --------------------------------------------------------------------

/** Waits until the stream can take more, or is gone. */
function writable(stream: Stream): Promise<void> {
  if (!stream.writableNeedDrain || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

async function sendItems(stream: Stream, items: AsyncIterable<unknown>, wire: Wire): Promise<void> {
  const peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:items` });
  try {
    let sent = 0;
    for await (const item of items) {
      if (peer.closed) break; // the receiver stopped reading: for-await ends the iterator
      peer.notify('item', [item]);
      // The peer gathers writes until the end of the tick, and a producer over ready data
      // never ends it: every few items, hand them to the stream, whose flow control then
      // holds the producer when the reader lags.
      if (++sent % 32 === 0) {
        peer.flush();
        await writable(stream);
      }
    }
    if (!peer.closed) peer.notify('end', []);
  } catch (err) {
    const e = err as { message?: unknown; name?: unknown; code?: unknown; data?: unknown };
    if (!peer.closed) {
      peer.notify('error', [
        { message: String(e?.message ?? err), name: e?.name, code: e?.code, data: e?.data },
      ]);
    }
  }
  await peer.close();
}

/** Received side of an object stream: items arrive as notifications; pausing the stream stops the sender. */
class ItemReceiver<T> implements AsyncIterable<T> {
  static readonly HIGH = 256;
  readonly #stream: Stream;
  readonly #peer: RpcPeer;
  #items: T[] = [];
  #head = 0;
  #done = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #iterating = false;

  constructor(stream: Stream, wire: Wire) {
    this.#stream = stream;
    this.#peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:items` });
    this.#peer.handle('item', ([value]: [T]) => {
      this.#items.push(value);
      // Backpressure: stop reading the stream, so the mux stops crediting the sender.
      if (this.#items.length - this.#head >= ItemReceiver.HIGH) stream.pause();
      this.#notify();
    });
    this.#peer.handle('end', () => this.#finish());
    this.#peer.handle(
      'error',
      ([e]: [{ message: string; name?: string; code?: string | number; data?: unknown }]) => {
        const err = Object.assign(new Error(e?.message ?? 'remote stream failed'), {
          name: 'RemoteError',
          remoteName: e?.name,
          code: e?.code,
          data: e?.data,
        });
        this.#finish(err);
      },
    );
    this.#peer.on('close', (err?: Error) => {
      if (!this.#done)
        this.#finish(err ?? new ConnectionClosedError('the object stream ended without "end"'));
    });
  }

  #finish(err?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = err;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#iterating) throw new Error('an object stream can be iterated once');
    this.#iterating = true;
    try {
      for (;;) {
        if (this.#head < this.#items.length) {
          const item = this.#items[this.#head]!;
          this.#items[this.#head++] = undefined as T;
          if (this.#head === this.#items.length) {
            this.#items = [];
            this.#head = 0;
          }
          if (this.#stream.isPaused() && this.#items.length - this.#head < ItemReceiver.HIGH / 2) {
            this.#stream.resume();
          }
          yield item;
          continue;
        }
        if (this.#done) {
          if (this.#error) throw fromRemote(this.#error);
          return;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      // Stopped early (break, throw): tell the sender to stop.
      if (!this.#done) this.#peer.destroy();
      else void this.#peer.close();
    }
  }
}
