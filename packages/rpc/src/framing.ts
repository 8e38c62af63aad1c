// Framing: every message is a 4-byte big-endian unsigned length followed by that many bytes of
// encoded message (docs/rpc.md, "Wire format"). FrameDecoder and FrameWriter are pure (no
// I/O: the writer hands its bytes to a callback), so they are tested byte by byte.

import type { ReceiveBudget } from './budget.js';
import { MessageTooLargeError } from './errors.js';

/** Bytes of the length prefix in front of every message. */
export const FRAME_HEADER_SIZE = 4;

/** The largest length the 4-byte header can express. */
export const MAX_FRAME_LENGTH = 0xffff_ffff;

/** One frame (header + body) in a new buffer. */
export function encodeFrame(body: Uint8Array, maxMessageSize = MAX_FRAME_LENGTH): Buffer {
  if (body.byteLength > maxMessageSize) {
    throw new MessageTooLargeError(body.byteLength, maxMessageSize, 'outgoing');
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 0);
  frame.set(body, FRAME_HEADER_SIZE);
  return frame;
}

/**
 * A growable byte buffer that codecs encode into directly (`Codec.encodeInto`): write at
 * `buf[pos]`, after `ensure(n)` has made room for `n` more bytes. `ensure` may replace `buf`.
 */
export interface OutputBuffer {
  buf: Buffer;
  pos: number;
  ensure(bytes: number): void;
}

/** Size of a slab of the FrameWriter: small frames of many ticks share one allocation. */
const SLAB_SIZE = 64 * 1024;

/**
 * How far a codec's room requests may exceed what it writes (it asks for the worst case of a
 * short string, 3 bytes per UTF-16 unit). A frame asking for more than maxMessageSize plus
 * this is too large: it fails before the memory is allocated.
 */
const ENCODE_SLACK = 256 * 1024;

/**
 * Builds frames in place and hands them to `write` in batches: every frame written during one
 * tick goes out in one `write` call, at the end of the tick (process.nextTick), as one
 * contiguous buffer. A stream write per tick rather than per message saves the stream's
 * per-chunk work and the syscalls (one writev instead of many writes), which at 64 requests in
 * flight is most of the cost of a call; over yamux it also means fewer, fuller frames.
 *
 * Frames are written into a slab that is only ever appended to: bytes handed to `write` are
 * never written over, so `write` may keep them (a socket sends them later). A frame that does
 * not fit moves, with what was already encoded of it, to a new slab big enough for it.
 */
export class FrameWriter implements OutputBuffer {
  buf: Buffer;
  pos = 0;
  readonly maxMessageSize: number;
  private readonly write: (bytes: Buffer) => void;
  /** Start of the bytes not yet handed to `write` in `buf`. */
  private flushed = 0;
  /** Start of the frame being built, or -1. */
  private frameStart = -1;
  /** Unflushed bytes of previous slabs, in order. */
  private sealed: Buffer[] = [];
  private scheduled = false;
  private closed = false;

  constructor(maxMessageSize: number, write: (bytes: Buffer) => void) {
    this.maxMessageSize = maxMessageSize;
    this.write = write;
    this.buf = Buffer.allocUnsafeSlow(SLAB_SIZE);
  }

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const start = this.frameStart >= 0 ? this.frameStart : this.pos;
    const partial = this.pos - start;
    const needed = partial + bytes;
    const limit = this.maxMessageSize + FRAME_HEADER_SIZE + ENCODE_SLACK;
    if (needed > limit) {
      throw new MessageTooLargeError(needed - FRAME_HEADER_SIZE, this.maxMessageSize, 'outgoing');
    }
    // Doubling keeps a message of many values linear to build; no slab beyond the limit.
    const next = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, Math.min(needed * 2, limit)));
    this.buf.copy(next, 0, start, this.pos);
    if (start > this.flushed) this.sealed.push(this.buf.subarray(this.flushed, start));
    this.buf = next;
    this.flushed = 0;
    if (this.frameStart >= 0) this.frameStart = 0;
    this.pos = partial;
  }

  /** Starts a frame: reserves its header. Encode the body with the OutputBuffer methods. */
  beginFrame(): void {
    this.ensure(FRAME_HEADER_SIZE + 64);
    this.frameStart = this.pos;
    this.pos += FRAME_HEADER_SIZE;
  }

  /**
   * Completes the frame: writes its header and schedules the flush.
   * @throws MessageTooLargeError (the frame is dropped) when the body is over the limit.
   */
  endFrame(): void {
    const start = this.frameStart;
    const length = this.pos - start - FRAME_HEADER_SIZE;
    this.frameStart = -1;
    if (length > this.maxMessageSize) {
      this.pos = start;
      throw new MessageTooLargeError(length, this.maxMessageSize, 'outgoing');
    }
    this.buf.writeUInt32BE(length, start);
    this.schedule();
  }

  /** Drops the frame being built (its encoding failed). */
  abortFrame(): void {
    if (this.frameStart >= 0) this.pos = this.frameStart;
    this.frameStart = -1;
  }

  /** Appends one frame whose body is already encoded (codecs without encodeInto). */
  writeFrame(body: Uint8Array): void {
    this.beginFrame();
    this.ensure(body.byteLength);
    this.buf.set(body, this.pos);
    this.pos += body.byteLength;
    this.endFrame();
  }

  /** Hands every complete frame to `write` now (the scheduled flush does this at tick end). */
  flush(): void {
    this.scheduled = false;
    if (this.closed) return;
    const sealed = this.sealed;
    if (sealed.length > 0) {
      this.sealed = [];
      for (const bytes of sealed) this.write(bytes);
    }
    if (this.pos > this.flushed) {
      const bytes = this.buf.subarray(this.flushed, this.pos);
      this.flushed = this.pos;
      // An oversized slab (left by a big message) is not kept for small ones.
      if (this.buf.length > SLAB_SIZE && this.pos > SLAB_SIZE) this.reset();
      this.write(bytes);
    }
  }

  /** Stops writing; what was not flushed is dropped. */
  close(): void {
    this.closed = true;
    this.sealed = [];
  }

  private reset(): void {
    this.buf = Buffer.allocUnsafeSlow(SLAB_SIZE);
    this.pos = 0;
    this.flushed = 0;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(flushWriter, this);
  }
}

function flushWriter(writer: FrameWriter): void {
  writer.flush();
}

/**
 * Splits a byte stream into frame bodies. Chunks may hold part of a frame, or many frames.
 *
 * A frame that lies inside one chunk is handed out as a range of that chunk, without a copy
 * (stream chunks belong to their reader). A frame spread over several chunks is copied once,
 * into a buffer of exactly its length, when its last byte has arrived: memory held for an
 * incomplete frame is what the remote actually sent, never what its header claims, so a header
 * announcing 64 MiB costs nothing until 64 MiB arrive.
 *
 * A header announcing more than maxMessageSize throws MessageTooLargeError as soon as its
 * fourth byte is pushed, before any of the body is read or buffered. With a ReceiveBudget,
 * the bytes of the incomplete frame are taken from it as they are held, and bytes that do
 * not fit throw ReceiveBudgetExceededError (and stop the decoder) instead of being kept.
 */
export class FrameDecoder {
  readonly maxMessageSize: number;
  private readonly onFrame: (bytes: Buffer, start: number, end: number) => void;
  /** Chunks (or their tails) of the incomplete frame, oldest first. */
  private chunks: Buffer[] = [];
  /** Total bytes in `chunks`. */
  private buffered = 0;
  /** Body length of the incomplete frame once its header is complete, else -1. */
  private bodyLength = -1;
  private stopped = false;
  private readonly budget: ReceiveBudget | undefined;

  /**
   * @param onFrame called synchronously, in order, for each complete body: `bytes[start, end)`.
   *   It may call stop(): no further frames are delivered.
   */
  constructor(
    maxMessageSize: number,
    onFrame: (bytes: Buffer, start: number, end: number) => void,
    budget?: ReceiveBudget,
  ) {
    this.maxMessageSize = maxMessageSize;
    this.onFrame = onFrame;
    this.budget = budget;
  }

  /** Bytes of an incomplete frame held between pushes (header bytes included). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Whether the stream may end here: false when part of a frame is buffered (the remote
   * closed in the middle of a message).
   */
  get atFrameBoundary(): boolean {
    return this.buffered === 0;
  }

  /** Stops delivering frames and drops what is buffered. */
  stop(): void {
    this.stopped = true;
    this.release();
  }

  /** Feeds bytes. Throws MessageTooLargeError (and stops) on a header over the limit. */
  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    if (this.buffered === 0) {
      this.scan(chunk, 0);
      return;
    }
    this.take(chunk.length);
    this.chunks.push(keep(chunk));
    this.buffered += chunk.length;
    if (this.bodyLength < 0) {
      if (this.buffered < FRAME_HEADER_SIZE) return;
      this.bodyLength = this.checkLength(this.peekHeader());
    }
    if (this.buffered < FRAME_HEADER_SIZE + this.bodyLength) return;
    // The frame is complete: copy its body out of the held chunks (all but the last lie
    // entirely within it); the rest of the last chunk goes through the zero-copy path.
    const bodyLength = this.bodyLength;
    const body = Buffer.allocUnsafe(bodyLength);
    const chunks = this.chunks;
    const last = chunks.length - 1;
    let skip = FRAME_HEADER_SIZE;
    let filled = 0;
    for (let i = 0; i < last; i++) {
      const c = chunks[i]!;
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      filled += c.copy(body, filled, skip);
      skip = 0;
    }
    const lastChunk = chunks[last]!;
    const usedOfLast = skip + (bodyLength - filled);
    lastChunk.copy(body, filled, skip, usedOfLast);
    this.release();
    this.bodyLength = -1;
    this.onFrame(body, 0, bodyLength);
    if (usedOfLast < lastChunk.length) this.scan(lastChunk, usedOfLast);
  }

  /** Delivers every complete frame of `chunk` from `offset`, keeps the incomplete tail. */
  private scan(chunk: Buffer, offset: number): void {
    const end = chunk.length;
    while (!this.stopped) {
      const available = end - offset;
      if (available < FRAME_HEADER_SIZE) {
        if (available > 0) this.hold(chunk, offset, -1);
        return;
      }
      const length = this.checkLength(chunk.readUInt32BE(offset));
      const bodyStart = offset + FRAME_HEADER_SIZE;
      if (end - bodyStart < length) {
        this.hold(chunk, offset, length);
        return;
      }
      offset = bodyStart + length;
      this.onFrame(chunk, bodyStart, offset);
    }
  }

  private hold(chunk: Buffer, offset: number, bodyLength: number): void {
    this.take(chunk.length - offset);
    this.chunks.push(keep(offset === 0 ? chunk : chunk.subarray(offset)));
    this.buffered = chunk.length - offset;
    this.bodyLength = bodyLength;
  }

  /** Takes `bytes` from the budget before they are held; stops and throws if they do not fit. */
  private take(bytes: number): void {
    if (this.budget === undefined) return;
    try {
      this.budget.take(bytes);
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  /** Drops the held bytes and gives them back to the budget. */
  private release(): void {
    this.budget?.give(this.buffered);
    this.chunks = [];
    this.buffered = 0;
  }

  private peekHeader(): number {
    let value = 0;
    let need = FRAME_HEADER_SIZE;
    for (const c of this.chunks) {
      for (let i = 0; i < c.length && need > 0; i++, need--) value = value * 256 + c[i]!;
      if (need === 0) break;
    }
    return value;
  }

  private checkLength(length: number): number {
    if (length > this.maxMessageSize) {
      this.stop();
      throw new MessageTooLargeError(length, this.maxMessageSize, 'incoming');
    }
    return length;
  }
}

/**
 * A piece of input to hold until its frame completes. A view keeps its whole underlying
 * buffer alive: the tail of a 64 KiB socket read, or a yamux payload of a few bytes between
 * other streams' frames, would hold the whole read. Such a piece (under half of its buffer)
 * is copied, so that what the decoder holds — and what a ReceiveBudget counts — is what it
 * keeps alive, within a factor of two. Whole reads, the bulk of a large message, are kept
 * as they are.
 */
function keep(piece: Buffer): Buffer {
  return piece.byteLength * 2 < piece.buffer.byteLength ? Buffer.from(piece) : piece;
}
