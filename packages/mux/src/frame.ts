import { type FrameType, HEADER_SIZE, PROTOCOL_VERSION } from './constants.js';

/** A decoded frame header. For Data frames `length` counts the payload that follows. */
export interface FrameHeader {
  type: FrameType;
  flags: number;
  streamId: number;
  length: number;
}

/**
 * Writes a 12-byte yamux header into `target` at `offset`. Pure: no I/O, no allocation.
 * Layout: version u8 | type u8 | flags u16 BE | stream id u32 BE | length u32 BE.
 */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  type: FrameType,
  flags: number,
  streamId: number,
  length: number,
): void {
  target[offset] = PROTOCOL_VERSION;
  target[offset + 1] = type;
  target[offset + 2] = (flags >>> 8) & 0xff;
  target[offset + 3] = flags & 0xff;
  target[offset + 4] = streamId >>> 24;
  target[offset + 5] = (streamId >>> 16) & 0xff;
  target[offset + 6] = (streamId >>> 8) & 0xff;
  target[offset + 7] = streamId & 0xff;
  target[offset + 8] = length >>> 24;
  target[offset + 9] = (length >>> 16) & 0xff;
  target[offset + 10] = (length >>> 8) & 0xff;
  target[offset + 11] = length & 0xff;
}

/** Encodes a header into a new 12-byte buffer. */
export function encodeHeader(
  type: FrameType,
  flags: number,
  streamId: number,
  length: number,
): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_SIZE);
  writeHeader(buf, 0, type, flags, streamId, length);
  return buf;
}

/**
 * Encodes a whole frame (header + payload) into one buffer. Used for small payloads, where
 * one copy is cheaper than handing two buffers to the socket.
 */
export function encodeFrame(
  type: FrameType,
  flags: number,
  streamId: number,
  payload: Uint8Array,
): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  writeHeader(buf, 0, type, flags, streamId, payload.length);
  buf.set(payload, HEADER_SIZE);
  return buf;
}

/** Reads a header from `source` at `offset` (which must hold 12 bytes). Does not validate. */
export function readHeader(source: Uint8Array, offset: number): FrameHeader & { version: number } {
  return {
    version: source[offset]!,
    type: source[offset + 1] as FrameType,
    flags: (source[offset + 2]! << 8) | source[offset + 3]!,
    streamId:
      ((source[offset + 4]! << 24) |
        (source[offset + 5]! << 16) |
        (source[offset + 6]! << 8) |
        source[offset + 7]!) >>>
      0,
    length:
      ((source[offset + 8]! << 24) |
        (source[offset + 9]! << 16) |
        (source[offset + 10]! << 8) |
        source[offset + 11]!) >>>
      0,
  };
}

/** Names a frame for logs and error messages, e.g. `Data(id=3, flags=SYN|FIN, len=5)`. */
export function describeFrame(h: FrameHeader): string {
  const names = ['Data', 'WindowUpdate', 'Ping', 'GoAway'];
  const flags = ['SYN', 'ACK', 'FIN', 'RST'].filter((_, i) => h.flags & (1 << i)).join('|');
  return `${names[h.type] ?? `type${h.type}`}(id=${h.streamId}, flags=${flags || '0'}, len=${h.length})`;
}
