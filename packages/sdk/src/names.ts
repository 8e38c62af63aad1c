import { EventEmitter } from 'node:events';

// Method names: which names a remote object may have, and which methods of an
// implementation are served. Names in a marker come from the other side and are untrusted:
// each becomes a property of an object on this side, so a name that JavaScript itself looks
// up (`then` by `await`, `toJSON` by JSON.stringify, `__proto__`, `constructor`) would let
// the other side run code here when this side does something ordinary with the object.

/**
 * Longest method name accepted. Method names are identifiers of a few dozen characters;
 * 256 leaves room for generated ones while a peer cannot make each name a megabyte.
 */
export const MAX_METHOD_NAME_LENGTH = 256;

/**
 * Most methods one remote object may list: each becomes a closure on the receiving side.
 * Real interfaces have tens of methods (go-plugin's largest in the wild: under 100).
 */
export const MAX_REMOTE_METHODS = 1024;

const RESERVED: ReadonlySet<string> = new Set([
  // `await x` and Promise resolution call x.then: a remote object must never be a thenable.
  'then',
  // JSON.stringify and the codecs call it.
  'toJSON',
  'prototype',
  // constructor, __proto__, toString, valueOf, hasOwnProperty, isPrototypeOf,
  // propertyIsEnumerable, toLocaleString, __defineGetter__ and the other legacy accessors.
  ...Object.getOwnPropertyNames(Object.prototype),
]);

/**
 * Why `name` cannot be a remote method name, or undefined when it can. Names starting with
 * `rpc.` are reserved by JSON-RPC 2.0, names starting with `$/` by the peer (`$/cancelRequest`).
 */
export function methodNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `a method name is a ${typeof name}, not a string`;
  if (name.length === 0) return 'a method name is empty';
  if (name.length > MAX_METHOD_NAME_LENGTH) {
    return `a method name is ${name.length} characters long (at most ${MAX_METHOD_NAME_LENGTH})`;
  }
  if (RESERVED.has(name)) {
    return `method name "${name}" is reserved${name === 'then' ? ' (a remote object is never a thenable)' : ''}`;
  }
  if (name.startsWith('rpc.') || name.startsWith('$/')) {
    return `method name "${name}" uses a reserved prefix`;
  }
  return undefined;
}

/** Why `methods` (received from the other side) is not a valid method list, or undefined. */
export function checkMethodList(methods: unknown): string | undefined {
  if (!Array.isArray(methods)) return 'an object marker has no "methods" list';
  if (methods.length > MAX_REMOTE_METHODS) {
    return `an object marker lists ${methods.length} methods (at most ${MAX_REMOTE_METHODS})`;
  }
  for (const m of methods) {
    const problem = methodNameProblem(m);
    if (problem) return problem;
  }
  return undefined;
}

/** Prototypes whose methods are never served, even when an implementation inherits them. */
const FOREIGN_PROTOTYPES: ReadonlySet<object> = new Set([Object.prototype, EventEmitter.prototype]);

/**
 * The methods an implementation serves when no `methods` list is given: its **own** methods.
 *
 * - a plain object (`{ greet() {…} }`, or a null-prototype object): its own enumerable
 *   function properties;
 * - a class instance: its own enumerable function properties (arrow-function fields) and the
 *   methods declared by its class, `Object.getPrototypeOf(impl)`, not those the class
 *   inherits (from EventEmitter, a base class, Object.prototype). A subclass that wants its
 *   base class's methods served lists them in `methods`.
 *
 * Names that methodNameProblem() refuses are left out (a class's `toString` is not served).
 */
export function ownMethodNames(impl: object): string[] {
  const names = new Set<string>();
  const add = (o: object, enumerableOnly: boolean) => {
    for (const key of Object.getOwnPropertyNames(o)) {
      const desc = Object.getOwnPropertyDescriptor(o, key);
      if (!desc || typeof desc.value !== 'function') continue;
      if (enumerableOnly && !desc.enumerable) continue;
      if (methodNameProblem(key) === undefined) names.add(key);
    }
  };
  add(impl, true);
  const proto = Object.getPrototypeOf(impl) as object | null;
  if (proto !== null && !FOREIGN_PROTOTYPES.has(proto)) add(proto, false);
  return [...names];
}
