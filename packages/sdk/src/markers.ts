import { Readable } from 'node:stream';
import type { Codec, MuxBroker } from '@plugwire/core';
import { InvalidMarkerError } from './errors.js';
import { checkMethodList } from './names.js';

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
//
// Which values become markers is decided here (kindOf); everything else is data, encoded by
// the codec as a copy. A marker received from the other side is untrusted input: it is
// checked (checkMarker) before any stream is dialled for it.

export const MARK = '$plugwire';

export type MarkerKind = 'fn' | 'obj' | 'bytes' | 'iter';
const KINDS: ReadonlySet<string> = new Set<MarkerKind>(['fn', 'obj', 'bytes', 'iter']);

export interface Marker {
  $plugwire: MarkerKind;
  id: number;
  methods?: string[];
}

/** What marshalling needs from the connection. */
export interface Wire {
  readonly broker: MuxBroker;
  readonly codec: Codec;
  /** Plugin name, for logs and errors. */
  readonly plugin: string;
}

// Objects the caller marked. WeakSets, not a property on the object: marking never changes
// the caller's object (a frozen one can be marked too) and nothing of it reaches the wire.
const byReference = new WeakSet<object>();
const retained = new WeakSet<object>();

/**
 * Marks an object to travel **by reference**: the other side gets a proxy whose methods
 * call this object (as Comlink's `proxy()`). Without it, an object travels by value: the
 * codec sends a copy of its data and the other side can call nothing on it. Functions
 * always travel by reference; so does a plain object whose values are all functions
 * (`{ onProgress(n) {…} }`).
 *
 * ```ts
 * await counter.put('x', 5, proxy(new HostAdder()));
 * ```
 * The proxy serves the object's own methods (see `definePlugin`'s `methods` for the rule).
 */
export function proxy<T extends object>(value: T): T {
  byReference.add(value);
  return value;
}

/**
 * Marks a function or object passed as an argument to stay callable after the call
 * returns (for subscriptions: `watch(key, retain(onChange))`). It lives until the other side
 * calls `release()` on its proxy, or the connection ends. Without it, a callback argument
 * works only while the call it was passed to is running. Implies `proxy()`.
 */
export function retain<T extends object>(callback: T): T {
  byReference.add(callback);
  retained.add(callback);
  return callback;
}

export function isRetained(value: object): boolean {
  return retained.has(value);
}

/** True for what looks like a marker; checkMarker() then decides whether it is a valid one. */
export function isMarker(v: unknown): v is Marker {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Marker).$plugwire === 'string' &&
    typeof (v as Marker).id === 'number'
  );
}

export function hasMarkers(values: readonly unknown[]): boolean {
  for (const v of values) if (isMarker(v)) return true;
  return false;
}

/** Broker ids are uint32 on the wire (protocol.md §7). */
const MAX_BROKER_ID = 0xffff_ffff;

/** The most of a peer's string an error message quotes: enough to recognise it. */
const MAX_QUOTED_LENGTH = 64;

/**
 * Validates a marker received from the other side, before anything is dialled for it.
 * @throws InvalidMarkerError
 */
export function checkMarker(m: Marker, wire: Wire): void {
  if (!KINDS.has(m.$plugwire)) {
    const kind = String(m.$plugwire).slice(0, MAX_QUOTED_LENGTH);
    throw new InvalidMarkerError(wire.plugin, `unknown kind "${kind}"`);
  }
  if (!Number.isInteger(m.id) || m.id < 0 || m.id > MAX_BROKER_ID) {
    throw new InvalidMarkerError(wire.plugin, `broker id ${m.id} is not a uint32`);
  }
  if (m.$plugwire === 'obj') {
    const problem = checkMethodList(m.methods);
    if (problem) throw new InvalidMarkerError(wire.plugin, problem);
  }
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A plain object with at least one value, every one a function: `{ onProgress(n) {…} }`. */
function isBagOfFunctions(v: object): boolean {
  const values = Object.values(v);
  return values.length > 0 && values.every((x) => typeof x === 'function');
}

/**
 * What kind of special value `v` is, or undefined for data. The rule (guide.md §7): a
 * function, an object marked with proxy()/retain(), or a plain object whose values are all
 * functions travels by reference; a Readable or AsyncIterable as a stream; everything else
 * (Map, Set, Date, typed arrays, Error, class instances, plain data) by value.
 */
export function kindOf(v: unknown): MarkerKind | undefined {
  if (typeof v === 'function') return 'fn';
  if (typeof v !== 'object' || v === null) return undefined;
  if (byReference.has(v)) return 'obj';
  if (v instanceof Readable) return v.readableObjectMode ? 'iter' : 'bytes';
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return undefined;
  if (Symbol.asyncIterator in v) return 'iter';
  return isPlainObject(v) && isBagOfFunctions(v) ? 'obj' : undefined;
}

/** True when some value of `args` must travel on a stream of its own. */
export function needsMarshal(args: readonly unknown[]): boolean {
  for (const a of args) {
    if (typeof a === 'function' || (typeof a === 'object' && a !== null && kindOf(a))) return true;
  }
  return false;
}
