import { FrameType, HEADER_SIZE, PROTOCOL_VERSION } from './constants.js';
import { ProtocolError } from './errors.js';

/** Receives what a FrameDecoder finds, in wire order. */
export interface FrameSink {
  /**
   * One frame header. For a Data frame, its `length` payload bytes follow through
   * `onPayload`, possibly in several pieces when the frame spans socket reads.
   */
  onHeader(type: FrameType, flags: number, streamId: number, length: number): void;
  /** A piece of the current Data frame's payload: a view into the input, never a copy. */
  onPayload(piece: Buffer): void;
}

/**
 * Turns the byte stream of a yamux connection into frames. Pure (no I/O): feed it the
 * chunks a socket delivers, in any sizes, split anywhere. Headers split across chunks are
 * reassembled in a 12-byte scratch buffer; payloads are passed on as views into the input
 * chunks, so payload bytes are never copied here.
 */
export class FrameDecoder {
  readonly #sink: FrameSink;
  readonly #scratch = Buffer.allocUnsafe(HEADER_SIZE);
  #scratchFill = 0;
  /** Payload bytes of the current Data frame still to come. */
  #payloadLeft = 0;
  #stopped = false;

  constructor(sink: FrameSink) {
    this.#sink = sink;
  }

  /** Stops decoding: later input and the rest of the current chunk are ignored. */
  stop(): void {
    this.#stopped = true;
  }

  /** True when the input so far ends exactly on a frame boundary. */
  get idle(): boolean {
    return this.#scratchFill === 0 && this.#payloadLeft === 0;
  }

  /** Consumes one chunk. Throws ProtocolError on a bad version or frame type. */
  push(chunk: Buffer): void {
    const end = chunk.length;
    let off = 0;
    while (off < end && !this.#stopped) {
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, end - off);
        this.#payloadLeft -= n;
        this.#sink.onPayload(off === 0 && n === end ? chunk : chunk.subarray(off, off + n));
        off += n;
        continue;
      }
      let src: Buffer;
      let at: number;
      if (this.#scratchFill === 0 && end - off >= HEADER_SIZE) {
        src = chunk;
        at = off;
        off += HEADER_SIZE;
      } else {
        const n = Math.min(HEADER_SIZE - this.#scratchFill, end - off);
        chunk.copy(this.#scratch, this.#scratchFill, off, off + n);
        this.#scratchFill += n;
        off += n;
        if (this.#scratchFill < HEADER_SIZE) return;
        this.#scratchFill = 0;
        src = this.#scratch;
        at = 0;
      }
      this.#header(src, at);
    }
  }

  #header(b: Buffer, at: number): void {
    const version = b[at]!;
    if (version !== PROTOCOL_VERSION) {
      throw new ProtocolError(`invalid protocol version ${version} (expected ${PROTOCOL_VERSION})`);
    }
    const type = b[at + 1]!;
    if (type > FrameType.GoAway) throw new ProtocolError(`invalid frame type ${type}`);
    // Byte by byte rather than readUInt32BE & co.: the 12 bytes are known to be there, and
    // this runs once per frame.
    const flags = (b[at + 2]! << 8) | b[at + 3]!;
    const streamId =
      ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
    const length =
      ((b[at + 8]! << 24) | (b[at + 9]! << 16) | (b[at + 10]! << 8) | b[at + 11]!) >>> 0;
    // The payload length is known before onHeader runs, so a sink that stops the decoder
    // (or throws) on this header leaves no payload to skip.
    if (type === FrameType.Data) this.#payloadLeft = length;
    this.#sink.onHeader(type as FrameType, flags, streamId, length);
  }
}
