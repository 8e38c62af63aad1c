// The raw floor's wire: a hand-written binary RPC, the least any RPC over a socket must do.
// Frame = u32 length (BE), then u32 id, u8 op, payload. Frames written in one tick leave in
// one socket write (a slab per tick, big payloads by reference); frames inside a received
// chunk are read where they lie. Shared by bench/plugins/raw.ts and the raw driver.

import type { Socket } from 'node:net';

export const OP_ADD = 1;
export const OP_ECHO = 2;
/** u32 length + u32 id + u8 op */
export const HEADER = 9;

/** Coalesces the frames of one tick into one write. */
export class TickWriter {
  readonly #socket: Socket;
  #slab = Buffer.allocUnsafe(64 * 1024);
  #start = 0;
  #pos = 0;
  /** Earlier parts of this tick's write: slab pieces and payloads by reference. */
  #parts: Buffer[] = [];
  #scheduled = false;
  readonly #written = new Map<Buffer, () => void>();
  readonly #flush = () => this.flush();

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Room for `n` more bytes in the slab; returns the slab and the offset to write at. */
  #reserve(n: number): number {
    if (this.#slab.length - this.#pos < n) {
      if (this.#pos > this.#start) this.#parts.push(this.#slab.subarray(this.#start, this.#pos));
      // Bytes handed to the socket are never written over: always a fresh slab.
      this.#slab = Buffer.allocUnsafe(Math.max(64 * 1024, n));
      this.#start = this.#pos = 0;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
    return this.#pos;
  }

  /** A frame of op `op` whose payload is two int32 (add's arguments) or one (its result). */
  ints(id: number, op: number, a: number, b?: number): void {
    const len = b === undefined ? HEADER + 4 : HEADER + 8;
    const at = this.#reserve(len);
    const s = this.#slab;
    s.writeUInt32BE(len - 4, at);
    s.writeUInt32BE(id, at + 4);
    s[at + 8] = op;
    s.writeInt32BE(a, at + 9);
    if (b !== undefined) s.writeInt32BE(b, at + 13);
    this.#pos += len;
  }

  /**
   * A frame whose payload is `bytes`, sent by reference (no copy); `written` runs once the
   * socket is done with it.
   */
  bytes(id: number, op: number, bytes: Buffer, written?: () => void): void {
    const at = this.#reserve(HEADER);
    const s = this.#slab;
    s.writeUInt32BE(HEADER - 4 + bytes.length, at);
    s.writeUInt32BE(id, at + 4);
    s[at + 8] = op;
    this.#pos += HEADER;
    this.#parts.push(this.#slab.subarray(this.#start, this.#pos), bytes);
    if (written) this.#written.set(bytes, written);
    this.#start = this.#pos;
  }

  flush(): void {
    this.#scheduled = false;
    const tail = this.#pos > this.#start ? this.#slab.subarray(this.#start, this.#pos) : null;
    this.#start = this.#pos;
    if (this.#parts.length === 0) {
      if (tail) this.#socket.write(tail);
      return;
    }
    if (tail) this.#parts.push(tail);
    const parts = this.#parts;
    this.#parts = [];
    this.#socket.cork();
    for (const p of parts) {
      const done = this.#written.get(p);
      if (done) this.#written.delete(p);
      this.#socket.write(p, done);
    }
    this.#socket.uncork();
  }
}

/**
 * Splits length-prefixed frames: `onFrame(buf, start, end)` covers id, op and payload. A
 * frame inside one chunk is read where it lies; a frame spread over chunks is copied into a
 * buffer of its size as its pieces arrive (one allocation, one copy, while they are hot).
 */
export class FrameReader {
  /** The frame being assembled (length prefix included), and how much of it has arrived. */
  #frame: Buffer | null = null;
  #filled = 0;
  /** Up to 3 bytes of a length prefix cut by a chunk boundary. */
  #head: Buffer | null = null;
  readonly #onFrame: (buf: Buffer, start: number, end: number) => void;
  readonly #alloc: (size: number) => Buffer;

  /** `alloc` gives the buffer of a frame spread over chunks (a pool, say). */
  constructor(
    onFrame: (buf: Buffer, start: number, end: number) => void,
    alloc: (size: number) => Buffer = Buffer.allocUnsafe,
  ) {
    this.#onFrame = onFrame;
    this.#alloc = alloc;
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    let off = 0;
    if (this.#head) {
      buf = Buffer.concat([this.#head, chunk]);
      this.#head = null;
    } else if (this.#frame) {
      const frame = this.#frame;
      const n = Math.min(chunk.length, frame.length - this.#filled);
      chunk.copy(frame, this.#filled, 0, n);
      this.#filled += n;
      if (this.#filled < frame.length) return;
      this.#frame = null;
      this.#onFrame(frame, 4, frame.length);
      off = n;
    }
    while (buf.length - off >= 4) {
      const end = off + 4 + buf.readUInt32BE(off);
      if (end > buf.length) {
        this.#frame = this.#alloc(end - off);
        this.#filled = buf.copy(this.#frame, 0, off);
        return;
      }
      this.#onFrame(buf, off + 4, end);
      off = end;
    }
    if (off < buf.length) this.#head = Buffer.from(buf.subarray(off));
  }
}
