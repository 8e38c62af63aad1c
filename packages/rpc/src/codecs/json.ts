// The `json` codec: UTF-8 JSON, exactly what JSON.stringify / JSON.parse produce, plus one
// convention for binary values, which JSON has no type for:
//
//   a Buffer, Uint8Array, any other TypedArray, DataView or ArrayBuffer is sent as
//   {"$bytes": "<standard base64, with padding>"}, and an object with exactly that one member
//   whose value is a string is decoded as a Buffer.
//
// Why not a JSON.stringify replacer / JSON.parse reviver: both run a function call for every
// value in the message, which measured 2-4x slower for ordinary messages, and a replacer sees
// a Buffer only after Buffer#toJSON has turned it into an array of numbers. Instead the encoder
// first looks for binary values (visiting objects only, no copies) and, only if it finds some,
// copies the objects on the path to them; the decoder only walks a message whose text
// contains `"$bytes"`. docs/rpc.md has the measured cost.

import { isAscii } from 'node:buffer';
import type { Codec } from '../codec.js';
import { CodecError } from '../errors.js';
import type { OutputBuffer } from '../framing.js';

/** The member name of the binary form. */
export const BYTES_KEY = '$bytes';

interface NativeWrite {
  utf8Write(s: string, offset: number, maxBytes: number): number;
  utf8Slice(start: number, end: number): string;
  asciiSlice(start: number, end: number): string;
}

/** Longer texts are measured exactly before they are written instead of reserving 3 bytes per unit. */
const MEASURE_TEXT_LENGTH = 16 * 1024;

/** From this length, text that is all ASCII is read with asciiSlice. */
const ASCII_CHECK_LENGTH = 1024;

/**
 * The UTF-8 text of `buf[start, end)`. utf8Slice (the native method behind toString('utf8'))
 * decodes about 200 MB/s; for ASCII, which JSON with base64 binary mostly is, asciiSlice is a
 * copy (50x faster on a 1 MiB echo), and isAscii costs little next to either.
 */
function readText(buf: Buffer & NativeWrite, start: number, end: number): string {
  if (end - start >= ASCII_CHECK_LENGTH && isAscii(buf.subarray(start, end))) {
    return buf.asciiSlice(start, end);
  }
  return buf.utf8Slice(start, end);
}

function isBinary(value: object): value is ArrayBufferView | ArrayBuffer {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

function toBase64(value: ArrayBufferView | ArrayBuffer): string {
  const bytes =
    value instanceof ArrayBuffer
      ? Buffer.from(value)
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return bytes.toString('base64');
}

/**
 * Whether `value` holds a binary value anywhere (the fast first pass: no copies, and only
 * objects are visited). Objects with a toJSON method are not looked into, as for replaceBinary.
 */
function hasBinary(value: object, depth: number): boolean {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null && hasBinary(item, depth + 1)) return true;
    }
    return false;
  }
  if (isBinary(value)) return true;
  if (depth > 1000 || typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    if (typeof item === 'object' && item !== null && hasBinary(item, depth + 1)) return true;
  }
  return false;
}

/**
 * Returns `value` itself when it holds no binary value, else a copy in which every binary
 * value is replaced by its {"$bytes"} form (only the containers on the way are copied).
 * Objects with a toJSON method (Date…) are left to JSON.stringify, as are their contents.
 */
function replaceBinary(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isBinary(value)) return { [BYTES_KEY]: toBase64(value) };
  // JSON.stringify throws on cycles; stop the walk at a depth no real message reaches so a
  // cycle ends in the same TypeError rather than a stack overflow.
  if (depth > 1000) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      const replaced = replaceBinary(item, depth + 1);
      if (replaced !== item) {
        copy ??= value.slice();
        copy[i] = replaced;
      }
    }
    return copy ?? value;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  let copy: Record<string, unknown> | undefined;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    const replaced = replaceBinary(item, depth + 1);
    if (replaced !== item && Object.hasOwn(record, key)) {
      copy ??= { ...record };
      copy[key] = replaced;
    }
  }
  return copy ?? value;
}

/** Decodes {"$bytes"} forms in place (the value was just parsed: nobody else holds it). */
function reviveBinary(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveBinary(value[i]);
    return value;
  }
  const record = value as Record<string, unknown>;
  const bytes = record[BYTES_KEY];
  if (typeof bytes === 'string' && Object.keys(record).length === 1) {
    return Buffer.from(bytes, 'base64');
  }
  for (const key in record) record[key] = reviveBinary(record[key]);
  return value;
}

function stringify(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(
      typeof value === 'object' && value !== null && hasBinary(value, 0)
        ? replaceBinary(value, 0)
        : value,
    );
  } catch (err) {
    throw new CodecError(`cannot encode as JSON: ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw new CodecError(`cannot encode ${typeof value} as JSON`);
  return text;
}

export const jsonCodec: Codec = {
  name: 'json',

  encode(value: unknown): Uint8Array {
    return Buffer.from(stringify(value), 'utf8');
  },

  encodeInto(value: unknown, out: OutputBuffer): void {
    const text = stringify(value);
    const n = text.length;
    const maxBytes = n < MEASURE_TEXT_LENGTH ? n * 3 : Buffer.byteLength(text);
    out.ensure(maxBytes);
    // utf8Write is the native method behind Buffer#write, without its argument checks.
    out.pos += (out.buf as Buffer & NativeWrite).utf8Write(text, out.pos, maxBytes);
  },

  decode(bytes: Uint8Array, start = 0, end = bytes.byteLength): unknown {
    const buf =
      bytes instanceof Buffer
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const text = readText(buf as Buffer & NativeWrite, start, end);
    const value: unknown = JSON.parse(text);
    // A one-character search first: most messages have no '$' at all, and a multi-character
    // search costs as much as parsing a small message.
    return text.indexOf('$') !== -1 && text.includes('"$bytes"') ? reviveBinary(value) : value;
  },
};
