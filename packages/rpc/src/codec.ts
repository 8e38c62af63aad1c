import { jsonCodec } from './codecs/json.js';
import { msgpackCodec } from './codecs/msgpack.js';
import { CodecError } from './errors.js';
import type { OutputBuffer } from './framing.js';

/**
 * Turns one JSON-RPC message (an object or a batch array) into bytes and back. The codec is
 * chosen per connection; the plugwire handshake names it (`jsonrpc+json`, `jsonrpc+msgpack`).
 */
export interface Codec {
  /** The name used in the handshake, e.g. `json` or `msgpack`. */
  readonly name: string;
  /**
   * Encodes a value. The result must stay valid: a later call must never write over it.
   * @throws CodecError when the value cannot be encoded (a BigInt in JSON, a cycle…).
   */
  encode(value: unknown): Uint8Array;
  /**
   * Optional fast path: appends the encoding of `value` to `out` (the peer's frame buffer),
   * saving the copy of encode()'s result. Same errors as encode().
   */
  encodeInto?(value: unknown, out: OutputBuffer): void;
  /**
   * Decodes exactly one value from `bytes[start, end)` (trailing bytes are an error). May
   * return views of `bytes` (msgpack binary values) rather than copies.
   * @throws on bytes that are not one valid encoded value.
   */
  decode(bytes: Uint8Array, start?: number, end?: number): unknown;
}

const codecs: ReadonlyMap<string, Codec> = new Map([
  [jsonCodec.name, jsonCodec],
  [msgpackCodec.name, msgpackCodec],
]);

/** The names codecByName accepts, in plugwire's order of preference. */
export const codecNames: readonly string[] = [msgpackCodec.name, jsonCodec.name];

/** The built-in codec with this name. @throws CodecError for any other name. */
export function codecByName(name: string): Codec {
  const codec = codecs.get(name);
  if (codec === undefined) {
    throw new CodecError(`unknown codec "${name}"; known codecs: ${codecNames.join(', ')}`);
  }
  return codec;
}
