// JSON in, JSON out: call arguments may carry bytes as `{ "$bytes": "<base64>" }` (the form
// the json codec and `plugwire call` use), results carry bytes the same way.
import { ControlCodes, ControlError } from './errors.js';

// Deeper than this is refused before it reaches a codec: a recursive encoder would blow the
// stack on a megabyte of "[[[[…" and the request would never be useful anyway.
const MAX_DEPTH = 64;

/** Arguments from a request body, with `{ $bytes }` turned into bytes. */
export function fromJson(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) {
    throw new ControlError(
      400,
      ControlCodes.badRequest,
      `arguments nest deeper than ${MAX_DEPTH} levels`,
    );
  }
  if (Array.isArray(value)) return value.map((v) => fromJson(v, depth + 1));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$bytes') {
      if (typeof o.$bytes !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.$bytes)) {
        throw new ControlError(400, ControlCodes.badRequest, '"$bytes" must be a base64 string');
      }
      return new Uint8Array(Buffer.from(o.$bytes, 'base64'));
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = fromJson(o[k], depth + 1);
    return out;
  }
  return value;
}

/** A JSON string of a result: bytes as `{ $bytes }`, Maps as objects, Sets as arrays, BigInts as strings. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value ?? null, (_k, v: unknown) => {
    if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
    if (v && typeof v === 'object') {
      const b = v as { type?: unknown; data?: unknown };
      if (b.type === 'Buffer' && Array.isArray(b.data))
        return { $bytes: Buffer.from(b.data as number[]).toString('base64') };
      if (v instanceof Map) return Object.fromEntries(v);
      if (v instanceof Set) return [...v];
    }
    if (typeof v === 'bigint') return v.toString();
    return v;
  });
}

/** Bytes from a route handler's `body` (Uint8Array, Buffer JSON, `{ $bytes }` or a string). */
export function toBytes(v: unknown): Buffer | undefined {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v && typeof v === 'object') {
    const o = v as { $bytes?: unknown; type?: unknown; data?: unknown };
    if (typeof o.$bytes === 'string') return Buffer.from(o.$bytes, 'base64');
    if (o.type === 'Buffer' && Array.isArray(o.data)) return Buffer.from(o.data as number[]);
  }
  return undefined;
}
