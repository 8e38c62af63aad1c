import { Duplex } from 'node:stream';
import { Flag, FrameType, INITIAL_STREAM_WINDOW, MAX_UINT32 } from './constants.js';
import { ProtocolError, SessionClosedError, StreamResetError } from './errors.js';
import type { Session } from './session.js';

/**
 * The states of a yamux stream, as in Go's stream.go. One field, moved in one place per
 * event, rather than state spread over booleans.
 *
 * - `init`: opened here, SYN not sent yet (it rides on the first frame, or goes alone on
 *   the next tick).
 * - `synSent`: SYN sent, no ACK yet. Writing is allowed: the initial window is known.
 * - `synReceived`: opened by the peer, not yet accepted here (no ACK sent).
 * - `established`: both sides know the stream.
 * - `localClose`: we sent FIN; the peer may still send.
 * - `remoteClose`: the peer sent FIN; we may still send.
 * - `closed`: FIN both ways; the stream has left the session's table.
 * - `reset`: RST sent or received, or the session ended; the stream is gone.
 */
export type StreamState =
  | 'init'
  | 'synSent'
  | 'synReceived'
  | 'established'
  | 'localClose'
  | 'remoteClose'
  | 'closed'
  | 'reset';

/**
 * What a stream needs from its session. The session implements it; nothing else should.
 * @internal
 */
export interface StreamOwner {
  readonly windowSize: number;
  readonly open: boolean;
  sendControl(type: FrameType, flags: number, streamId: number, length: number): void;
  sendData(streamId: number, flags: number, payload: Buffer): void;
  /** One Data frame whose payload is `pieces`, `length` bytes in all (no copy is made here). */
  sendDataV(streamId: number, flags: number, pieces: Buffer[], length: number): void;
  /** Calls `cb` once the connection can take more data (at once if it can now). */
  whenWritable(cb: (err?: Error | null) => void): void;
  /** The stream reached `closed` or `reset`: take it out of the table. */
  streamDone(stream: Stream): void;
  /** The peer acknowledged a stream opened here: its open slot is free. */
  acknowledged(stream: Stream): void;
  /** We sent FIN and the peer has not: start waiting for its FIN (streamCloseTimeout). */
  halfClosed(stream: Stream): void;
}

/**
 * One yamux stream: a Node Duplex. `end()` sends FIN (half-close), the peer's FIN ends the
 * readable side, `destroy()` sends RST and the peer's RST destroys it with a
 * StreamResetError. Writes never exceed the peer's window: `write()` returns false and
 * `'drain'` follows, like any Node stream. Received bytes are credited back to the peer
 * only once the application has read them (Go's rule: when half the window was read), so a
 * reader that stops reading holds at most one window in memory.
 */
export class Stream extends Duplex {
  /** The yamux stream id: odd when the client side opened it, even for the server side. */
  readonly id: number;
  readonly #owner: StreamOwner;
  readonly #session: Session;
  #state: StreamState;

  /** Bytes the peer still lets us send. */
  #sendWindow = INITIAL_STREAM_WINDOW;
  /** Bytes the peer may still send us before it must wait for a window update. */
  #recvWindow = INITIAL_STREAM_WINDOW;

  // Received bytes that Node's readable side has not asked for yet. A plain array with a
  // head index: shift() would make a flood of tiny frames quadratic.
  #queue: Buffer[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  /** Node asked for data (`_read`) and the last push() did not refuse more. */
  #wantsData = false;
  /** The peer's FIN arrived; end the readable side once the queue is empty. */
  #finReceived = false;

  // The write in progress, waiting for send window: its chunks (one for _write, several for
  // _writev), the chunk being sent and the offset into it.
  #out: Buffer[] | null = null;
  #outIndex = 0;
  #outOffset = 0;
  #outCallback: ((err?: Error | null) => void) | null = null;

  /**
   * Opened here while `maxPendingOpens` streams were waiting for their ACK: the SYN may not
   * go out yet, so writes and end() wait (in #out and #finalCallback) for `_grant()`.
   */
  #waitingForSlot = false;
  #finalCallback: ((err?: Error | null) => void) | null = null;

  /** @internal Sessions create streams; applications get them from openStream/accept. */
  constructor(owner: StreamOwner, session: Session, id: number, state: 'init' | 'synReceived') {
    super({ allowHalfOpen: true });
    // Node's Readable schedules a tick after every push() to call _read() ahead of need
    // (maybeReadMore). Data here is pushed as it arrives and _read() only says "more
    // welcome", which Readable.read() asks for by itself when the consumer drains the
    // buffer; so that tick is pure cost, one per frame (~12% of the CPU of an echo of small
    // messages). Marking it as already scheduled turns it off. Where the field does not
    // exist (another Node), nothing changes.
    const rs = (this as unknown as { _readableState?: { readingMore?: boolean } })._readableState;
    if (rs?.readingMore === false) rs.readingMore = true;
    this.#owner = owner;
    this.#session = session;
    this.id = id;
    this.#state = state;
  }

  /** The session this stream belongs to. */
  get session(): Session {
    return this.#session;
  }

  /** Where the stream is in the yamux state machine. */
  get state(): StreamState {
    return this.#state;
  }

  // ---- called by the session -------------------------------------------------------

  /** The SYN must wait for an open slot (see `maxPendingOpens`). @internal */
  _waitForSlot(): void {
    this.#waitingForSlot = true;
  }

  /** An open slot is ours: send what waited for it, or the SYN alone. @internal */
  _grant(): void {
    this.#waitingForSlot = false;
    if (this.#out !== null) this.#pump();
    else if (this.#finalCallback !== null) {
      const cb = this.#finalCallback;
      this.#finalCallback = null;
      this._final(cb);
    } else this._flushSyn();
  }

  /** The peer did not close its side in time after ours: reset the stream. @internal */
  _closeTimedOut(err: Error): void {
    if (this.#state !== 'localClose') return;
    this.#owner.sendControl(FrameType.WindowUpdate, Flag.RST, this.id, 0);
    this.#state = 'reset';
    this.#owner.streamDone(this);
    this.destroy(this.listenerCount('error') > 0 ? err : undefined);
  }

  /** Sends the SYN alone if no frame has carried it yet. @internal */
  _flushSyn(): void {
    if (this.#state === 'init' && this.#owner.open && !this.#waitingForSlot) {
      this.#owner.sendControl(
        FrameType.WindowUpdate,
        this.#takeFlags(),
        this.id,
        this.#windowDelta(),
      );
    }
  }

  /** The application accepted the stream: ACK it now (Go closes sessions whose opens go unacknowledged). @internal */
  _accept(): void {
    if (this.#state === 'synReceived' && this.#owner.open) {
      this.#owner.sendControl(
        FrameType.WindowUpdate,
        this.#takeFlags(),
        this.id,
        this.#windowDelta(),
      );
    }
  }

  /** Flags of a frame from the peer other than payload: ACK, FIN, RST. @internal */
  _onFlags(flags: number): void {
    if (flags & Flag.RST) {
      this.#onRemoteReset();
      return;
    }
    if (flags & Flag.ACK) {
      if (this.#state === 'synSent') this.#state = 'established';
      // Also after our FIN (localClose): the open slot is held until the ACK, whatever came since.
      this.#owner.acknowledged(this);
    }
    if (flags & Flag.FIN) this.#onRemoteFin();
  }

  /** The peer gave more send window. @internal */
  _onWindowUpdate(delta: number): void {
    if (this.#sendWindow + delta > MAX_UINT32) {
      throw new ProtocolError(`window update overflows the send window of stream ${this.id}`);
    }
    this.#sendWindow += delta;
    if (this.#out !== null && delta > 0) this.#pump();
  }

  /**
   * A data frame of `length` bytes is arriving: take it from the receive window.
   * @internal
   */
  _reserve(length: number): void {
    if (length > this.#recvWindow) {
      throw new ProtocolError(
        `stream ${this.id} received ${length} bytes with only ${this.#recvWindow} of window left`,
      );
    }
    this.#recvWindow -= length;
  }

  /** A piece of payload from the peer. @internal */
  _onData(piece: Buffer): void {
    if (this.destroyed || this.#finReceived) return; // nobody will read it
    if (this.#wantsData && this.#queueHead === this.#queue.length) {
      this.#wantsData = this.push(piece);
      this.#creditReadBytes();
    } else {
      // Held until the application reads: a piece that is a small part of the connection's
      // read is copied, so that a window of tiny frames cannot keep many whole reads alive
      // (each piece is a view of the chunk it arrived in).
      this.#queue.push(piece.byteLength * 2 < piece.buffer.byteLength ? Buffer.from(piece) : piece);
      this.#queuedBytes += piece.length;
    }
  }

  /** The session ended under this stream. @internal */
  _abort(err: Error | null): void {
    if (this.destroyed) return;
    this.#state = 'reset';
    // The peer finished sending before the session ended: keep what it sent readable.
    // Writing now fails; end() completes quietly.
    if (this.#finReceived && this.#out === null) return;
    // A stream nobody accepted has no listeners yet; an error would crash the process.
    this.destroy(this.listenerCount('error') > 0 ? (err ?? undefined) : undefined);
  }

  // ---- Duplex implementation ---------------------------------------------------------

  override _read(): void {
    this.#wantsData = true;
    const q = this.#queue;
    while (this.#queueHead < q.length && this.#wantsData) {
      const piece = q[this.#queueHead]!;
      q[this.#queueHead++] = undefined as unknown as Buffer;
      this.#queuedBytes -= piece.length;
      this.#wantsData = this.push(piece);
    }
    if (this.#queueHead === q.length) {
      this.#queue = [];
      this.#queueHead = 0;
      if (this.#finReceived) {
        this.push(null);
        return;
      }
    }
    this.#creditReadBytes();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    cb: (err?: Error | null) => void,
  ): void {
    const n = chunk.length;
    if (n <= this.#sendWindow && n > 0 && this.#owner.open && !this.#waitingForSlot) {
      // The usual case: the whole write fits the window and goes out as one frame.
      this.#sendWindow -= n;
      this.#owner.sendData(this.id, this.#takeFlags(), chunk);
      this.#owner.whenWritable(cb);
      return;
    }
    this.#out = [chunk];
    this.#outIndex = 0;
    this.#outOffset = 0;
    this.#outCallback = cb;
    this.#pump();
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    cb: (err?: Error | null) => void,
  ): void {
    // Writes queued while the previous one waited: they go out together, in as few frames
    // as the window allows, without being copied into one buffer first.
    this.#out = chunks.map((c) => c.chunk);
    this.#outIndex = 0;
    this.#outOffset = 0;
    this.#outCallback = cb;
    this.#pump();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#waitingForSlot) {
      this.#finalCallback = cb; // a FIN would open the stream too: it waits for _grant()
      return;
    }
    if (this.#owner.open && this.#state !== 'reset') {
      this.#owner.sendControl(FrameType.WindowUpdate, this.#takeFlags() | Flag.FIN, this.id, 0);
    }
    switch (this.#state) {
      case 'synSent':
      case 'synReceived':
      case 'established':
        this.#state = 'localClose';
        this.#owner.halfClosed(this);
        break;
      case 'remoteClose':
        this.#state = 'closed';
        this.#owner.streamDone(this);
        break;
    }
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const state = this.#state;
    if (state !== 'closed' && state !== 'reset') {
      // Tell the peer, unless it never heard of the stream (SYN still pending).
      if (state !== 'init' && this.#owner.open) {
        this.#owner.sendControl(FrameType.WindowUpdate, Flag.RST, this.id, 0);
      }
      this.#state = 'reset';
      this.#owner.streamDone(this);
    }
    this.#queue = [];
    this.#queueHead = 0;
    this.#queuedBytes = 0;
    this.#finalCallback = null;
    if (this.#outCallback)
      this.#fail(err ?? new StreamResetError(this.id, `stream ${this.id} was destroyed`));
    cb(err);
  }

  // ---- internals ---------------------------------------------------------------------

  /** Sends as much of the current write as the window allows; completes it when all is sent. */
  #pump(): void {
    if (this.#waitingForSlot) return; // resumed by _grant
    const out = this.#out!;
    while (this.#outIndex < out.length) {
      const chunk = out[this.#outIndex]!;
      const left = chunk.length - this.#outOffset;
      if (left === 0) {
        this.#outIndex++;
        this.#outOffset = 0;
        continue;
      }
      const window = this.#sendWindow;
      if (window === 0) return; // resumed by _onWindowUpdate
      if (!this.#owner.open) {
        this.#fail(new SessionClosedError(`stream ${this.id}: the session is closed`));
        return;
      }
      if (left >= window || this.#outIndex === out.length - 1) {
        // This chunk fills the frame: the usual case, one chunk per write.
        const n = Math.min(window, left);
        const at = this.#outOffset;
        const piece = n === chunk.length ? chunk : chunk.subarray(at, at + n);
        this.#sendWindow = window - n;
        if (n === left) {
          this.#outIndex++;
          this.#outOffset = 0;
        } else {
          this.#outOffset = at + n;
        }
        this.#owner.sendData(this.id, this.#takeFlags(), piece);
        continue;
      }
      // Several chunks in one frame, as much as the window takes.
      const pieces: Buffer[] = [];
      let n = 0;
      while (this.#outIndex < out.length && n < window) {
        const c = out[this.#outIndex]!;
        const at = this.#outOffset;
        const take = Math.min(c.length - at, window - n);
        pieces.push(take === c.length ? c : c.subarray(at, at + take));
        n += take;
        if (at + take === c.length) {
          this.#outIndex++;
          this.#outOffset = 0;
        } else {
          this.#outOffset = at + take;
        }
      }
      this.#sendWindow = window - n;
      this.#owner.sendDataV(this.id, this.#takeFlags(), pieces, n);
    }
    const cb = this.#outCallback!;
    this.#out = null;
    this.#outCallback = null;
    this.#owner.whenWritable(cb);
  }

  /** Fails the write in progress (Node then destroys the stream with the error). */
  #fail(err: Error): void {
    const cb = this.#outCallback;
    this.#out = null;
    this.#outCallback = null;
    cb?.(err);
  }

  /** SYN on our first frame, ACK on our first frame of an accepted stream. */
  #takeFlags(): number {
    if (this.#state === 'init') {
      this.#state = 'synSent';
      return Flag.SYN;
    }
    if (this.#state === 'synReceived') {
      this.#state = 'established';
      return Flag.ACK;
    }
    return 0;
  }

  /** Go's formula: the credit that would bring the peer back to a full window. */
  #windowDelta(): number {
    const delta = this.#owner.windowSize - this.#queuedBytes - this.#recvWindow;
    this.#recvWindow += delta;
    return delta;
  }

  /** Returns read bytes to the peer once at least half the window was read (Go's rule). */
  #creditReadBytes(): void {
    const s = this.#state;
    if (this.#finReceived || s === 'synReceived' || s === 'reset' || s === 'closed') return;
    const max = this.#owner.windowSize;
    const delta = max - this.#queuedBytes - this.#recvWindow;
    if (delta < max / 2 || !this.#owner.open) return;
    this.#recvWindow += delta;
    this.#owner.sendControl(FrameType.WindowUpdate, this.#takeFlags(), this.id, delta);
  }

  #onRemoteFin(): void {
    switch (this.#state) {
      case 'synSent':
      case 'synReceived':
      case 'established':
        this.#state = 'remoteClose';
        break;
      case 'localClose':
        this.#state = 'closed';
        this.#owner.streamDone(this);
        break;
      default:
        return; // a second FIN, or FIN after reset: nothing left to end
    }
    this.#finReceived = true;
    if (this.#queueHead === this.#queue.length && !this.destroyed) this.push(null);
  }

  #onRemoteReset(): void {
    if (this.#state === 'closed' || this.#state === 'reset') return;
    this.#state = 'reset';
    this.#owner.streamDone(this);
    this.destroy(new StreamResetError(this.id));
  }
}
