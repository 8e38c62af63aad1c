import type { Duplex } from 'node:stream';
import { FrameType, HEADER_SIZE } from './constants.js';
import { SessionClosedError, WriteTimeoutError } from './errors.js';
import { writeHeader } from './frame.js';

/**
 * Payloads up to this size are copied into the write buffer next to their header, so that
 * the frames of a tick reach the socket as one buffer; larger ones are handed to the socket
 * as they are (a writev of header and payload), never copied. Measured (bench/micro.ts
 * 'sock echo', 64 in flight): copying wins for 40-byte messages, references win from
 * ~768 bytes (by 6-20%) and clearly from 2 KiB (20-28%); 16 KiB cost up to 30% more CPU.
 */
const COPY_THRESHOLD = 512;

/** The write buffer small frames are gathered in; a new one is taken when it is full. */
const SLAB_SIZE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * The write side of a session: frames in, connection writes out. No protocol state here,
 * only batching and backpressure.
 *
 * The frames of one tick reach the connection together at the end of the tick. Headers and
 * small payloads are copied into #slab, where consecutive frames form one chunk
 * ([#slabStart, #slabEnd) is not handed over yet); a large payload is handed over by
 * reference after the chunk before it, with the connection corked so that the tick still
 * ends in one writev. Writers wait for 'drain' when the socket buffer is full; the write
 * timer catches a connection that stopped taking data.
 */
export class FrameWriter {
  readonly #conn: Duplex;
  /** The connection write timeout (ms), the "safety valve". */
  readonly #timeout: number;
  readonly #onTimeout: (err: Error) => void;
  #closed = false;
  #closeError: Error = new SessionClosedError();
  #flushPending = false;
  #connCorked = false;
  #slab: Buffer = EMPTY;
  #slabStart = 0;
  #slabEnd = 0;
  #drainWaiters: Array<(err?: Error | null) => void> = [];
  #writeTimer: NodeJS.Timeout | undefined;
  /** Bytes handed to the connection so far, and how many of them it had taken when the write timer was armed. */
  #pushed = 0;
  #takenAtArm = 0;

  /** `onTimeout` is called when the connection took no writes for `timeout` ms. */
  constructor(conn: Duplex, timeout: number, onTimeout: (err: Error) => void) {
    this.#conn = conn;
    this.#timeout = timeout;
    this.#onTimeout = onTimeout;
    conn.on('drain', this.#onDrain);
  }

  /**
   * Stops writing: later frames are dropped, writers waiting for the connection fail with
   * `err`. Frames already gathered still go out with the next flush().
   */
  close(err: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = err;
    clearTimeout(this.#writeTimer);
    this.#writeTimer = undefined;
    this.#conn.off('drain', this.#onDrain);
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const cb of waiters) cb(err);
  }

  /** Makes sure the frames written in this tick are flushed at its end. */
  #begin(): void {
    if (!this.#flushPending) {
      this.#flushPending = true;
      process.nextTick(this.flush);
    }
  }

  /** The slab, with room for `n` more bytes at #slabEnd. */
  #room(n: number): Buffer {
    if (this.#slabEnd + n > this.#slab.length) {
      this.#handOver();
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, n));
      this.#slabStart = 0;
      this.#slabEnd = 0;
    }
    return this.#slab;
  }

  /** Hands the gathered frames to the connection (the slab is never written there again). */
  #handOver(): void {
    if (this.#slabEnd > this.#slabStart) {
      const chunk = this.#slab.subarray(this.#slabStart, this.#slabEnd);
      this.#slabStart = this.#slabEnd;
      this.#push(chunk);
    }
  }

  /** Bytes the connection has taken from us (passed on, no longer in its buffer). */
  #taken(): number {
    return this.#pushed - this.#conn.writableLength;
  }

  #push(buf: Buffer): void {
    this.#pushed += buf.length;
    if (!this.#conn.write(buf) && this.#writeTimer === undefined) {
      this.#takenAtArm = this.#taken();
      this.#writeTimer = setTimeout(this.#onWriteTimeout, this.#timeout);
    }
  }

  readonly flush = (): void => {
    if (!this.#flushPending) return;
    this.#flushPending = false;
    this.#handOver();
    if (this.#connCorked) {
      this.#connCorked = false;
      this.#conn.uncork();
    }
    // Writers held back by the gathered bytes (see #whenWritable) go on if the connection
    // took them at once: a write that completes synchronously returns true, whatever its
    // size, and no 'drain' follows.
    if (this.#drainWaiters.length > 0 && !this.#conn.writableNeedDrain) this.#onDrain();
  };

  sendControl(type: FrameType, flags: number, id: number, length: number): void {
    if (this.#closed) return;
    this.#begin();
    const slab = this.#room(HEADER_SIZE);
    writeHeader(slab, this.#slabEnd, type, flags, id, length);
    this.#slabEnd += HEADER_SIZE;
  }

  sendData(id: number, flags: number, payload: Buffer): void {
    if (this.#closed) return;
    this.#begin();
    const n = payload.length;
    if (n <= COPY_THRESHOLD) {
      const slab = this.#room(HEADER_SIZE + n);
      const at = this.#slabEnd;
      writeHeader(slab, at, FrameType.Data, flags, id, n);
      slab.set(payload, at + HEADER_SIZE);
      this.#slabEnd = at + HEADER_SIZE + n;
      return;
    }
    const slab = this.#room(HEADER_SIZE);
    writeHeader(slab, this.#slabEnd, FrameType.Data, flags, id, n);
    this.#slabEnd += HEADER_SIZE;
    if (!this.#connCorked) {
      this.#connCorked = true;
      this.#conn.cork();
    }
    this.#handOver();
    this.#push(payload);
  }

  sendDataV(id: number, flags: number, pieces: Buffer[], length: number): void {
    if (this.#closed) return;
    this.#begin();
    let slab = this.#room(HEADER_SIZE);
    writeHeader(slab, this.#slabEnd, FrameType.Data, flags, id, length);
    this.#slabEnd += HEADER_SIZE;
    for (const piece of pieces) {
      const n = piece.length;
      if (n <= COPY_THRESHOLD) {
        slab = this.#room(n);
        slab.set(piece, this.#slabEnd);
        this.#slabEnd += n;
      } else {
        if (!this.#connCorked) {
          this.#connCorked = true;
          this.#conn.cork();
        }
        this.#handOver();
        this.#push(piece);
      }
    }
  }

  /**
   * Calls `cb` once the connection can take more. Bytes gathered but not handed over yet
   * count as written: if they fill the connection past its high-water mark, `cb` waits
   * for the flush, and then for 'drain' if the connection did not take them at once.
   */
  whenWritable(cb: (err?: Error | null) => void): void {
    const conn = this.#conn;
    if (this.#closed) cb(this.#closeError);
    else if (
      conn.writableNeedDrain ||
      conn.writableLength + this.#slabEnd - this.#slabStart >= conn.writableHighWaterMark
    ) {
      this.#drainWaiters.push(cb);
    } else cb();
  }

  readonly #onDrain = (): void => {
    clearTimeout(this.#writeTimer);
    this.#writeTimer = undefined;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const cb of waiters) cb();
  };

  readonly #onWriteTimeout = (): void => {
    this.#writeTimer = undefined;
    // A connection that took some of our bytes is slow, not stuck: 'drain' comes only once
    // its whole buffer is below the high-water mark, which a loaded peer may take longer than
    // the timeout to reach while it keeps reading. Only no progress at all is a dead peer.
    const taken = this.#taken();
    if (taken > this.#takenAtArm) {
      this.#takenAtArm = taken;
      this.#writeTimer = setTimeout(this.#onWriteTimeout, this.#timeout);
      return;
    }
    this.#onTimeout(new WriteTimeoutError(this.#timeout));
  };
}
