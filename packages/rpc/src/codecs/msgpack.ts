// The `msgpack` codec: plain MessagePack (github.com/msgpack/msgpack/blob/master/spec.md) that
// Go (vmihailenco/msgpack, ugorji) and Python (msgpack) read without extensions.
//
// Encoding is written here, straight into the peer's output buffer: msgpackr's pack() spends
// as long setting up as encoding a small message, and returns a view that would have to be
// copied into the frame anyway (docs/rpc.md, "Performance"). What it writes:
//   null, undefined, functions, symbols -> nil (as object members: left out, as in JSON)
//   boolean -> bool; integer numbers -> the smallest int/uint (int64/uint64 beyond 32 bits,
//   never float); other numbers -> float64; bigint -> int64/uint64 (RangeError beyond)
//   string -> str (UTF-8); Buffer, Uint8Array, other typed arrays, DataView, ArrayBuffer -> bin
//   array -> array; plain object or class instance -> map of its own enumerable string keys;
//   an object with toJSON() (but Date) -> what toJSON returns, as JSON.stringify does
//   Date -> timestamp extension (-1), which the Go and Python libraries read (invalid -> nil)
//   Map, Set, Error, RegExp -> left to msgpackr (map, array, array, array: no extensions)
//
// Decoding is msgpack-decode.ts: maps -> objects, bin -> Buffer, int64 -> number when exact,
// else BigInt, timestamp -> Date.

import { createRequire } from 'node:module';
import type { Packr } from 'msgpackr';
import type { Codec } from '../codec.js';
import { CodecError, MessageTooLargeError } from '../errors.js';
import type { OutputBuffer } from '../framing.js';
import { decodeMsgpack, MAX_DEPTH } from './msgpack-decode.js';

// Encodes the few types above that this file leaves to msgpackr, configured to write plain
// msgpack (no records, no extensions but the timestamp). Its pack() returns a view of a buffer
// it shares and appends to, never written over; the view is copied into the frame at once.
// Loaded on first use: importing msgpackr costs every host and plugin ~50 ms of start-up and
// ~10 MiB (it probes for its native addon), for types that few messages carry.
let packr: Packr | undefined;
function msgpackr(): Packr {
  if (!packr) {
    const { Packr } = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr');
    packr = new Packr({
      useRecords: false,
      moreTypes: false,
      structuredClone: false,
      bundleStrings: false,
      encodeUndefinedAsNil: true,
    });
  }
  return packr;
}

// MAX_DEPTH (from the decoder): deeper is treated as a cycle, as JSON.stringify would throw.

/** Longer strings are measured exactly before they are written instead of reserving 3 bytes per unit. */
const MEASURE_STRING_LENGTH = 16 * 1024;

interface NativeWrite {
  utf8Write(s: string, offset: number, maxBytes: number): number;
}

function writeNil(out: OutputBuffer): void {
  out.ensure(1);
  out.buf[out.pos++] = 0xc0;
}

function writeString(out: OutputBuffer, s: string): void {
  const n = s.length;
  if (n < 64) {
    // ASCII fast path: one byte per unit, no native call.
    out.ensure(2 + n * 3);
    const buf = out.buf;
    const header = n < 32 ? 1 : 2;
    let p = out.pos + header;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[p++] = c;
    }
    if (i === n) {
      if (header === 1) buf[out.pos] = 0xa0 | n;
      else {
        buf[out.pos] = 0xd9;
        buf[out.pos + 1] = n;
      }
      out.pos = p;
      return;
    }
  }
  const maxBytes = n < MEASURE_STRING_LENGTH ? n * 3 : Buffer.byteLength(s);
  const header = maxBytes < 0x100 ? 2 : maxBytes < 0x10000 ? 3 : 5;
  out.ensure(header + maxBytes);
  const buf = out.buf;
  const start = out.pos;
  // utf8Write is the native method behind Buffer#write, without its argument checks.
  const length = (buf as Buffer & NativeWrite).utf8Write(s, start + header, maxBytes);
  // The header was sized for the worst case; the smallest one that fits is used.
  const fits = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  if (fits < header) buf.copyWithin(start + fits, start + header, start + header + length);
  if (fits === 1) buf[start] = 0xa0 | length;
  else if (fits === 2) {
    buf[start] = 0xd9;
    buf[start + 1] = length;
  } else if (fits === 3) {
    buf[start] = 0xda;
    buf.writeUInt16BE(length, start + 1);
  } else {
    buf[start] = 0xdb;
    buf.writeUInt32BE(length, start + 1);
  }
  out.pos = start + fits + length;
}

function writeNumber(out: OutputBuffer, v: number): void {
  out.ensure(9);
  const buf = out.buf;
  let p = out.pos;
  if (Number.isInteger(v)) {
    if (v >= 0) {
      if (v < 0x80) buf[p++] = v;
      else if (v < 0x100) {
        buf[p++] = 0xcc;
        buf[p++] = v;
      } else if (v < 0x10000) {
        buf[p++] = 0xcd;
        buf[p++] = v >>> 8;
        buf[p++] = v & 0xff;
      } else if (v < 0x1_0000_0000) {
        buf[p] = 0xce;
        buf.writeUInt32BE(v, p + 1);
        p += 5;
      } else if (v <= Number.MAX_SAFE_INTEGER) {
        buf[p] = 0xcf;
        buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), p + 1);
        buf.writeUInt32BE(v >>> 0, p + 5);
        p += 9;
      } else {
        buf[p] = 0xcb;
        buf.writeDoubleBE(v, p + 1);
        p += 9;
      }
    } else if (v >= -0x20) {
      buf[p++] = v & 0xff;
    } else if (v >= -0x80) {
      buf[p++] = 0xd0;
      buf[p++] = v & 0xff;
    } else if (v >= -0x8000) {
      buf[p] = 0xd1;
      buf.writeInt16BE(v, p + 1);
      p += 3;
    } else if (v >= -0x8000_0000) {
      buf[p] = 0xd2;
      buf.writeInt32BE(v, p + 1);
      p += 5;
    } else if (v >= Number.MIN_SAFE_INTEGER) {
      // Two's complement across two words: v = high * 2^32 + low, 0 <= low < 2^32.
      const high = Math.floor(v / 0x1_0000_0000);
      buf[p] = 0xd3;
      buf.writeInt32BE(high, p + 1);
      buf.writeUInt32BE(v - high * 0x1_0000_0000, p + 5);
      p += 9;
    } else {
      buf[p] = 0xcb;
      buf.writeDoubleBE(v, p + 1);
      p += 9;
    }
  } else {
    buf[p] = 0xcb;
    buf.writeDoubleBE(v, p + 1);
    p += 9;
  }
  out.pos = p;
}

function writeBigInt(out: OutputBuffer, v: bigint): void {
  out.ensure(9);
  if (v >= -0x8000_0000_0000_0000n && v < 0x8000_0000_0000_0000n) {
    out.buf[out.pos] = 0xd3;
    out.buf.writeBigInt64BE(v, out.pos + 1);
  } else if (v > 0n && v < 0x1_0000_0000_0000_0000n) {
    out.buf[out.pos] = 0xcf;
    out.buf.writeBigUInt64BE(v, out.pos + 1);
  } else {
    throw new RangeError(`BigInt ${v} does not fit in 64 bits`);
  }
  out.pos += 9;
}

function writeBin(out: OutputBuffer, bytes: Uint8Array): void {
  const n = bytes.byteLength;
  out.ensure(5 + n);
  const buf = out.buf;
  let p = out.pos;
  if (n < 0x100) {
    buf[p++] = 0xc4;
    buf[p++] = n;
  } else if (n < 0x10000) {
    buf[p] = 0xc5;
    buf.writeUInt16BE(n, p + 1);
    p += 3;
  } else {
    buf[p] = 0xc6;
    buf.writeUInt32BE(n, p + 1);
    p += 5;
  }
  buf.set(bytes, p);
  out.pos = p + n;
}

function writeContainerHeader(out: OutputBuffer, n: number, fix: number, code16: number): void {
  out.ensure(5);
  const buf = out.buf;
  if (n < 16) buf[out.pos++] = fix | n;
  else if (n < 0x10000) {
    buf[out.pos] = code16;
    buf.writeUInt16BE(n, out.pos + 1);
    out.pos += 3;
  } else {
    buf[out.pos] = code16 + 1;
    buf.writeUInt32BE(n, out.pos + 1);
    out.pos += 5;
  }
}

/** Whether an object member with this value is written (JSON.stringify leaves the others out). */
function isMember(v: unknown): boolean {
  const t = typeof v;
  return t !== 'undefined' && t !== 'function' && t !== 'symbol';
}

function writeMap(out: OutputBuffer, obj: Record<string, unknown>, own: boolean, depth: number) {
  let n = 0;
  for (const key in obj) {
    if (isMember(obj[key]) && (!own || Object.hasOwn(obj, key))) n++;
  }
  writeContainerHeader(out, n, 0x80, 0xde);
  for (const key in obj) {
    const v = obj[key];
    if (isMember(v) && (!own || Object.hasOwn(obj, key))) {
      writeString(out, key);
      writeValue(out, v, depth);
    }
  }
}

/** The timestamp extension (-1), in its smallest form, as msgpackr and the spec write it. */
function writeDate(out: OutputBuffer, date: Date): void {
  const ms = date.getTime();
  out.ensure(15);
  const buf = out.buf;
  const p = out.pos;
  if (Number.isNaN(ms)) {
    // No timestamp for an invalid date; JSON writes null for it too.
    buf[p] = 0xc0;
    out.pos = p + 1;
    return;
  }
  const seconds = Math.floor(ms / 1000);
  const ns = (ms - seconds * 1000) * 1e6;
  if (seconds >= 0 && seconds < 0x4_0000_0000) {
    if (ns === 0 && seconds < 0x1_0000_0000) {
      buf[p] = 0xd6;
      buf[p + 1] = 0xff;
      buf.writeUInt32BE(seconds, p + 2);
      out.pos = p + 6;
    } else {
      buf[p] = 0xd7;
      buf[p + 1] = 0xff;
      buf.writeUInt32BE(ns * 4 + Math.floor(seconds / 0x1_0000_0000), p + 2);
      buf.writeUInt32BE(seconds >>> 0, p + 6);
      out.pos = p + 10;
    }
  } else {
    buf[p] = 0xc7;
    buf[p + 1] = 12;
    buf[p + 2] = 0xff;
    buf.writeUInt32BE(ns, p + 3);
    buf.writeBigInt64BE(BigInt(seconds), p + 7);
    out.pos = p + 15;
  }
}

function writeWithPackr(out: OutputBuffer, v: unknown): void {
  const bytes = msgpackr().pack(v);
  out.ensure(bytes.length);
  out.buf.set(bytes, out.pos);
  out.pos += bytes.length;
}

function writeObject(out: OutputBuffer, v: object, depth: number): void {
  if (depth > MAX_DEPTH) throw new CodecError('value nested too deeply (a cycle?)');
  if (Array.isArray(v)) {
    const n = v.length;
    writeContainerHeader(out, n, 0x90, 0xdc);
    for (let i = 0; i < n; i++) writeValue(out, v[i], depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') writeValue(out, toJSON.call(v), depth + 1);
    else writeMap(out, v as Record<string, unknown>, false, depth + 1);
  } else if (v instanceof Uint8Array) {
    writeBin(out, v);
  } else if (ArrayBuffer.isView(v)) {
    writeBin(out, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  } else if (v instanceof ArrayBuffer) {
    writeBin(out, new Uint8Array(v));
  } else if (v instanceof Date) {
    writeDate(out, v);
  } else if (v instanceof Map || v instanceof Set || v instanceof Error || v instanceof RegExp) {
    writeWithPackr(out, v);
  } else if (typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    writeValue(out, (v as { toJSON(): unknown }).toJSON(), depth + 1);
  } else {
    writeMap(out, v as Record<string, unknown>, true, depth + 1);
  }
}

function writeValue(out: OutputBuffer, v: unknown, depth: number): void {
  switch (typeof v) {
    case 'string':
      writeString(out, v);
      return;
    case 'number':
      writeNumber(out, v);
      return;
    case 'object':
      if (v === null) writeNil(out);
      else writeObject(out, v, depth);
      return;
    case 'boolean':
      out.ensure(1);
      out.buf[out.pos++] = v ? 0xc3 : 0xc2;
      return;
    case 'bigint':
      writeBigInt(out, v);
      return;
    default:
      // undefined, functions and symbols, where JSON would write null (array items, top level).
      writeNil(out);
  }
}

/** A growable buffer for encode(), which returns a standalone copy. */
class GrowableBuffer implements OutputBuffer {
  buf = Buffer.allocUnsafe(256);
  pos = 0;
  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

function encodeInto(value: unknown, out: OutputBuffer): void {
  try {
    writeValue(out, value, 0);
  } catch (err) {
    if (err instanceof MessageTooLargeError || err instanceof CodecError) throw err;
    throw new CodecError(`cannot encode as msgpack: ${(err as Error).message}`, { cause: err });
  }
}

export const msgpackCodec: Codec = {
  name: 'msgpack',

  encode(value: unknown): Uint8Array {
    const out = new GrowableBuffer();
    encodeInto(value, out);
    return out.buf.subarray(0, out.pos);
  },

  encodeInto,

  decode(bytes: Uint8Array, start = 0, end = bytes.byteLength): unknown {
    return decodeMsgpack(bytes, start, end);
  },
};
