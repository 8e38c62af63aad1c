// Decoder of plain MessagePack (github.com/msgpack/msgpack/blob/master/spec.md), reading the
// received chunk in place: no copy of the message, no DataView, short ASCII strings (map keys,
// "2.0", method names) come from a small cache instead of being allocated again.
//
//   nil -> null, bool -> boolean, int/uint -> number (64-bit beyond ±2^53 -> BigInt),
//   float32/64 -> number, str -> string (UTF-8; invalid sequences become U+FFFD),
//   bin -> Buffer (a copy below 4 KiB; larger ones are views of the received bytes),
//   array -> array, map -> plain object (keys: strings, or numbers/booleans/nil as text),
//   timestamp extension (-1) -> Date; any other extension type is an error.
//
// Untrusted input: every length is checked against the bytes that remain before anything is
// allocated (an array of n items needs at least n bytes), nesting is limited, a `__proto__`
// key becomes an own property, and the message must end exactly where the value ends.

import { isAscii } from 'node:buffer';
import { CodecError } from '../errors.js';

/** Binary values shorter than this are copied, so they do not keep a whole chunk alive. */
const COPY_BIN_BELOW = 4096;

/** Containers nested deeper than this are refused (the encoder refuses them too). */
export const MAX_DEPTH = 1000;

interface NativeSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  asciiSlice(start: number, end: number): string;
}

/**
 * From this length, a string that is all ASCII is read with asciiSlice, a copy, where
 * utf8Slice decodes about 200 MB/s.
 */
const ASCII_CHECK_LENGTH = 1024;

let src: Buffer & NativeSlices = Buffer.alloc(0) as Buffer & NativeSlices;
let pos = 0;
let end = 0;

// Short ASCII strings, by a hash of their bytes. A hit returns the same string object, which
// V8 has already internalized if it was used as a property key.
const CACHE_SIZE = 4096;
const CACHE_MAX_LENGTH = 16;
const cache: (string | undefined)[] = new Array(CACHE_SIZE);

function fail(message: string): never {
  throw new CodecError(`invalid msgpack: ${message}`);
}

function need(n: number): void {
  if (n > end - pos) fail('unexpected end of message');
}

function readString(n: number): string {
  need(n);
  const start = pos;
  pos += n;
  if (n <= CACHE_MAX_LENGTH) {
    if (n === 0) return '';
    const first = src[start]!;
    const last = src[start + n - 1]!;
    const h = (n * 0x3b + first * 0x11 + last * 7 + src[start + (n >> 1)]!) & (CACHE_SIZE - 1);
    const cached = cache[h];
    if (cached !== undefined && cached.length === n) {
      let i = 0;
      while (i < n && cached.charCodeAt(i) === src[start + i]) i++;
      if (i === n) return cached;
    }
    let ascii = true;
    for (let i = start; i < pos; i++) {
      if (src[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii) return src.utf8Slice(start, pos);
    const s = src.latin1Slice(start, pos);
    cache[h] = s;
    return s;
  }
  if (n >= ASCII_CHECK_LENGTH && isAscii(src.subarray(start, pos)))
    return src.asciiSlice(start, pos);
  return src.utf8Slice(start, pos);
}

function readBin(n: number): Buffer {
  need(n);
  const start = pos;
  pos += n;
  if (n >= COPY_BIN_BELOW) return src.subarray(start, pos);
  const copy = Buffer.allocUnsafe(n);
  src.copy(copy, 0, start, pos);
  return copy;
}

function readArray(n: number, depth: number): unknown[] {
  if (n > end - pos) fail(`array of ${n} items in ${end - pos} bytes`);
  if (depth > MAX_DEPTH) fail('nested too deeply');
  const array = new Array<unknown>(n);
  for (let i = 0; i < n; i++) array[i] = readValue(depth + 1);
  return array;
}

function readKey(depth: number): string {
  const b = src[pos]!;
  if (b >= 0xa0 && b < 0xc0) {
    pos++;
    return readString(b & 0x1f);
  }
  const key = readValue(depth);
  switch (typeof key) {
    case 'string':
      return key;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(key);
    default:
      if (key === null) return 'null';
      return fail('a map key must be a string or a number');
  }
}

function readMap(n: number, depth: number): Record<string, unknown> {
  if (n * 2 > end - pos) fail(`map of ${n} entries in ${end - pos} bytes`);
  if (depth > MAX_DEPTH) fail('nested too deeply');
  const object: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = readKey(depth + 1);
    const value = readValue(depth + 1);
    if (key === '__proto__') {
      Object.defineProperty(object, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      object[key] = value;
    }
  }
  return object;
}

function u16(): number {
  need(2);
  const v = (src[pos]! << 8) | src[pos + 1]!;
  pos += 2;
  return v;
}

function u32(): number {
  need(4);
  const v = src.readUInt32BE(pos);
  pos += 4;
  return v;
}

function readUint64(): number | bigint {
  need(8);
  const high = src.readUInt32BE(pos);
  const low = src.readUInt32BE(pos + 4);
  pos += 8;
  return high < 0x20_0000 ? high * 0x1_0000_0000 + low : (BigInt(high) << 32n) | BigInt(low);
}

function readInt64(): number | bigint {
  need(8);
  const high = src.readInt32BE(pos);
  const low = src.readUInt32BE(pos + 4);
  pos += 8;
  return high >= -0x20_0000 && high < 0x20_0000
    ? high * 0x1_0000_0000 + low
    : (BigInt(high) << 32n) | BigInt(low);
}

function readExt(n: number): unknown {
  need(1 + n);
  const type = src[pos]!;
  const start = pos + 1;
  pos = start + n;
  if (type !== 0xff) fail(`unsupported extension type ${(type << 24) >> 24}`);
  // Timestamp: 32-bit seconds; 30-bit ns + 34-bit seconds; 32-bit ns + 64-bit signed seconds.
  if (n === 4) return new Date(src.readUInt32BE(start) * 1000);
  if (n === 8) {
    const word = src.readUInt32BE(start);
    const ns = word >>> 2;
    const seconds = (word & 0x3) * 0x1_0000_0000 + src.readUInt32BE(start + 4);
    return new Date(seconds * 1000 + ns / 1e6);
  }
  if (n === 12) {
    const ns = src.readUInt32BE(start);
    const seconds = Number(src.readBigInt64BE(start + 4));
    return new Date(seconds * 1000 + ns / 1e6);
  }
  return fail(`timestamp of ${n} bytes`);
}

function readValue(depth: number): unknown {
  if (pos >= end) fail('unexpected end of message');
  const b = src[pos++]!;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b < 0x90) return readMap(b & 0x0f, depth);
  if (b < 0xa0) return readArray(b & 0x0f, depth);
  if (b < 0xc0) return readString(b & 0x1f);
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      need(1);
      return readBin(src[pos++]!);
    case 0xc5:
      return readBin(u16());
    case 0xc6:
      return readBin(u32());
    case 0xc7:
      need(1);
      return readExt(src[pos++]!);
    case 0xc8:
      return readExt(u16());
    case 0xc9:
      return readExt(u32());
    case 0xca: {
      need(4);
      const v = src.readFloatBE(pos);
      pos += 4;
      return v;
    }
    case 0xcb: {
      need(8);
      const v = src.readDoubleBE(pos);
      pos += 8;
      return v;
    }
    case 0xcc:
      need(1);
      return src[pos++]!;
    case 0xcd:
      return u16();
    case 0xce:
      return u32();
    case 0xcf:
      return readUint64();
    case 0xd0:
      need(1);
      return (src[pos++]! << 24) >> 24;
    case 0xd1:
      return (u16() << 16) >> 16;
    case 0xd2:
      return u32() | 0;
    case 0xd3:
      return readInt64();
    case 0xd4:
      return readExt(1);
    case 0xd5:
      return readExt(2);
    case 0xd6:
      return readExt(4);
    case 0xd7:
      return readExt(8);
    case 0xd8:
      return readExt(16);
    case 0xd9:
      need(1);
      return readString(src[pos++]!);
    case 0xda:
      return readString(u16());
    case 0xdb:
      return readString(u32());
    case 0xdc:
      return readArray(u16(), depth);
    case 0xdd:
      return readArray(u32(), depth);
    case 0xde:
      return readMap(u16(), depth);
    case 0xdf:
      return readMap(u32(), depth);
    default:
      return fail('0xc1 is never used');
  }
}

/** Decodes exactly one value from `bytes[start, finish)`. @throws CodecError. */
export function decodeMsgpack(bytes: Uint8Array, start: number, finish: number): unknown {
  src = (
    bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  ) as Buffer & NativeSlices;
  pos = start;
  end = finish;
  try {
    const value = readValue(0);
    if (pos !== end) fail(`${end - pos} bytes after the value`);
    return value;
  } catch (err) {
    if (err instanceof CodecError) throw err;
    // A stack overflow on pathological input, or a Buffer range error: still invalid input.
    throw new CodecError(`invalid msgpack: ${(err as Error).message}`, { cause: err });
  } finally {
    src = EMPTY;
  }
}

const EMPTY = Buffer.alloc(0) as Buffer & NativeSlices;
