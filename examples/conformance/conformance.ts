// The conformance interface (docs/protocol.md §14): what `plugwire conformance` calls. A
// plugin in any language that serves it as "conformance" can be checked with the kit.
import type { Readable } from 'node:stream';
import { definePlugin } from '@plugwire/sdk';

/** What a method returns: the value, or a promise of it. */
type R<T> = T | Promise<T>;

export interface Conformance {
  /** Returns its argument. */
  echo(value: unknown): R<unknown>;
  /** Fails with an application error whose code is `code` (a string) and message `message`. */
  fail(code: string, message: string): R<void>;
  /** Calls the host's `fn(i)` for i = 1…n in turn and returns the sum of its results. */
  callback(n: number, fn: (i: number) => R<number>): R<number>;
  /** A byte stream of n bytes, byte i being i % 251. */
  bytesOut(n: number): R<Readable>;
  /** Reads a byte stream: its size and the sum of its bytes mod 65521. */
  bytesIn(stream: Readable): R<{ size: number; sum: number }>;
  /** An object stream of the numbers 1…n. */
  itemsOut(n: number): AsyncIterable<number>;
  /** Reads an object stream of numbers and returns their sum. */
  itemsIn(items: AsyncIterable<number>): R<number>;
  /** Answers only when cancelled. */
  hang(): R<void>;
  /** How many hang() calls have seen their cancellation so far. */
  cancelled(): R<number>;
  /** The length of a binary argument. */
  size(data: Uint8Array): R<number>;
  /** Waits ms milliseconds, then returns ms. */
  sleep(ms: number): R<number>;
}

export const conformance = definePlugin<Conformance>({
  name: 'conformance',
  methods: [
    'echo',
    'fail',
    'callback',
    'bytesOut',
    'bytesIn',
    'itemsOut',
    'itemsIn',
    'hang',
    'cancelled',
    'size',
    'sleep',
  ],
});
