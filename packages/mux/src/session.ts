import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { type ResolvedSessionOptions, resolveOptions, type SessionOptions } from './config.js';
import { Flag, FrameType, GoAwayCode, INITIAL_STREAM_WINDOW, MAX_UINT32 } from './constants.js';
import { Deadlines } from './deadlines.js';
import { FrameDecoder, type FrameSink } from './decode.js';
import {
  KeepAliveTimeoutError,
  MuxError,
  PingTimeoutError,
  ProtocolError,
  RemoteGoAwayError,
  SessionClosedError,
  StreamCloseTimeoutError,
  StreamOpenTimeoutError,
  StreamsExhaustedError,
} from './errors.js';
import { Stream, type StreamOwner } from './stream.js';
import { FrameWriter } from './writer.js';

const debug = createDebug('plugwire:mux');

export type SessionRole = 'client' | 'server';

/** `open` → (`closing` after close()) → `closed`. */
export type SessionState = 'open' | 'closing' | 'closed';

export interface SessionEvents {
  /** A stream opened by the peer, already acknowledged. */
  stream: [stream: Stream];
  /** The peer sent GoAway(normal): it accepts no new streams; existing ones go on. */
  goaway: [reason: number];
  /** The session ended; `error` says why when it was not a clean close. */
  close: [error?: Error];
}

interface PendingPing {
  resolve: (rtt: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  started: number;
}

/**
 * A yamux session over one byte duplex (a socket, a TLS socket, an in-memory pair). The
 * client role opens odd stream ids, the server role even ones; both can open and accept.
 * Byte-compatible with github.com/hashicorp/yamux.
 */
export class Session extends EventEmitter<SessionEvents> {
  readonly role: SessionRole;
  readonly #conn: Duplex;
  readonly #options: ResolvedSessionOptions;
  readonly #streams = new Map<number, Stream>();
  readonly #decoder: FrameDecoder;
  readonly #owner: StreamOwner;
  readonly #label: string;
  #state: SessionState = 'open';
  #nextStreamId: number;
  #localGoAway = false;
  #remoteGoAway = false;
  #closeError: Error | undefined;
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  // Incoming streams not yet accepted, and acceptStream() calls waiting for one.
  #backlog: Stream[] = [];
  #acceptWaiters: Array<{ resolve: (s: Stream) => void; reject: (e: Error) => void }> = [];

  // Streams opened here: those holding one of the `maxPendingOpens` slots until the peer's
  // ACK (with their open deadline), and those waiting for a slot, oldest first.
  readonly #opening: Deadlines<Stream>;
  #openQueue: Stream[] = [];
  #openQueueHead = 0;
  #granting = false;
  /** Streams we half-closed, waiting for the peer's FIN (streamCloseTimeout). */
  readonly #halfClosed: Deadlines<Stream>;

  #pings = new Map<number, PendingPing>();
  #nextPingId = 0;
  #keepAliveTimer: NodeJS.Timeout | undefined;

  // The Data frame whose payload is arriving: its stream (null: discard) and FIN flag.
  #dataStream: Stream | null = null;
  #dataLeft = 0;
  #dataFin = false;

  readonly #writer: FrameWriter;
  #endTimer: NodeJS.Timeout | undefined;

  constructor(conn: Duplex, role: SessionRole, options?: SessionOptions) {
    super();
    this.role = role;
    this.#conn = conn;
    this.#options = resolveOptions(options);
    this.#label = this.#options.name || role;
    this.#nextStreamId = role === 'client' ? 1 : 2;
    const openTimeout = this.#options.streamOpenTimeout;
    this.#opening = new Deadlines(openTimeout, (stream) => {
      debug('%s: stream %d not acknowledged within %d ms', this.#label, stream.id, openTimeout);
      this.#teardown(new StreamOpenTimeoutError(stream.id, openTimeout), true);
    });
    const closeTimeout = this.#options.streamCloseTimeout;
    this.#halfClosed = new Deadlines(closeTimeout, (stream) => {
      debug(
        '%s: stream %d: no FIN within %d ms of ours, reset',
        this.#label,
        stream.id,
        closeTimeout,
      );
      stream._closeTimedOut(new StreamCloseTimeoutError(stream.id, closeTimeout));
    });
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    const session = this;
    const writer = new FrameWriter(conn, this.#options.connectionWriteTimeout, (err) =>
      this.#teardown(err, true),
    );
    this.#writer = writer;
    this.#owner = {
      windowSize: this.#options.maxStreamWindowSize,
      get open() {
        return session.#state !== 'closed';
      },
      sendControl: (type, flags, id, length) => writer.sendControl(type, flags, id, length),
      sendData: (id, flags, payload) => writer.sendData(id, flags, payload),
      sendDataV: (id, flags, pieces, length) => writer.sendDataV(id, flags, pieces, length),
      whenWritable: (cb) => writer.whenWritable(cb),
      streamDone: (stream) => this.#streamDone(stream),
      acknowledged: (stream) => {
        if (this.#opening.delete(stream)) this.#grantOpens();
      },
      halfClosed: (stream) => {
        if (closeTimeout > 0 && this.#state !== 'closed') this.#halfClosed.add(stream);
      },
    };
    const sink: FrameSink = {
      onHeader: (type, flags, id, length) => this.#onHeader(type, flags, id, length),
      onPayload: (piece) => this.#onPayload(piece),
    };
    this.#decoder = new FrameDecoder(sink);
    // Frames are already gathered per tick; Nagle's algorithm would only hold back small
    // ones (window updates above all) until the peer acknowledges earlier segments. Go's
    // net package turns it off on every TCP connection too. A no-op on unix sockets.
    (conn as Partial<Socket>).setNoDelay?.(true);
    conn.on('data', this.#onConnData);
    conn.on('end', this.#onConnEnd);
    conn.on('error', this.#onConnError);
    conn.on('close', this.#onConnClose);
    if (this.#options.enableKeepAlive) {
      this.#keepAliveTimer = setInterval(this.#keepAlive, this.#options.keepAliveInterval);
      this.#keepAliveTimer.unref();
    }
    debug('%s: session started', this.#label);
  }

  /** `open`, `closing` (close() waits for streams) or `closed`. */
  get state(): SessionState {
    return this.#state;
  }

  /** Streams in the table: open in at least one direction, or not yet accepted. */
  get numStreams(): number {
    return this.#streams.size;
  }

  /** Resolves when the session has ended, for whatever reason. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Why the session ended, when it did not end cleanly. */
  get closeError(): Error | undefined {
    return this.#closeError;
  }

  /**
   * Opens a stream. It can be written to at once: the SYN goes with the first frame (or
   * alone on the next tick), and the initial 256 KiB window needs no round trip. While
   * `maxPendingOpens` streams wait for the peer's ACK, the new stream's SYN and writes wait
   * for one of them to be acknowledged (write() returns false, as for a full window).
   */
  openStream(): Stream {
    if (this.#state !== 'open') {
      throw this.#closeError ?? new SessionClosedError('cannot open a stream: session is closing');
    }
    if (this.#remoteGoAway) throw new RemoteGoAwayError(GoAwayCode.Normal);
    const id = this.#nextStreamId;
    if (id > MAX_UINT32) throw new StreamsExhaustedError();
    this.#nextStreamId += 2;
    const stream = new Stream(this.#owner, this, id, 'init');
    this.#streams.set(id, stream);
    if (this.#opening.size >= this.#options.maxPendingOpens) {
      stream._waitForSlot();
      this.#openQueue.push(stream);
    } else {
      this.#opening.add(stream);
      if (this.#options.maxStreamWindowSize > INITIAL_STREAM_WINDOW) {
        stream._flushSyn(); // a larger window must be announced in a WindowUpdate frame
      } else {
        process.nextTick(() => stream._flushSyn());
      }
    }
    return stream;
  }

  /** Gives the open slots freed by ACKs (or ended streams) to the streams waiting, in order. */
  #grantOpens(): void {
    // A grant can end a stream at once (a write failing), which frees a slot and calls this
    // again: the loop already running picks that slot up.
    if (this.#granting) return;
    this.#granting = true;
    try {
      this.#grantWaiting();
    } finally {
      this.#granting = false;
    }
  }

  #grantWaiting(): void {
    const queue = this.#openQueue;
    // The teardown empties the queue (a new array): stop there.
    while (
      this.#openQueue === queue &&
      this.#openQueueHead < queue.length &&
      this.#opening.size < this.#options.maxPendingOpens
    ) {
      const stream = queue[this.#openQueueHead]!;
      queue[this.#openQueueHead++] = undefined as unknown as Stream;
      if (this.#streams.get(stream.id) !== stream) continue; // destroyed while it waited
      this.#opening.add(stream);
      stream._grant();
    }
    if (this.#openQueue === queue && this.#openQueueHead === queue.length) {
      this.#openQueue = [];
      this.#openQueueHead = 0;
    }
  }

  /**
   * Resolves with the next stream the peer opens (acknowledging it), unless a `'stream'`
   * listener takes streams as they come. Rejects when the session ends.
   */
  acceptStream(): Promise<Stream> {
    const waiting = this.#backlog.shift();
    if (waiting) {
      waiting._accept();
      return Promise.resolve(waiting);
    }
    if (this.#state !== 'open') {
      return Promise.reject(this.#closeError ?? new SessionClosedError());
    }
    return new Promise((resolve, reject) => this.#acceptWaiters.push({ resolve, reject }));
  }

  /** Measures the round trip to the peer, in milliseconds. */
  ping(): Promise<number> {
    if (this.#state === 'closed')
      return Promise.reject(this.#closeError ?? new SessionClosedError());
    const id = this.#nextPingId;
    this.#nextPingId = (this.#nextPingId + 1) >>> 0;
    const timeout = this.#options.connectionWriteTimeout;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        reject(new PingTimeoutError(timeout));
      }, timeout);
      this.#pings.set(id, { resolve, reject, timer, started: performance.now() });
      this.#sendControl(FrameType.Ping, Flag.SYN, 0, id);
    });
  }

  /**
   * Tells the peer we accept no new streams (its opens are reset from now on). Existing
   * streams carry on. `reason` is one of GoAwayCode.
   */
  goAway(reason: GoAwayCode = GoAwayCode.Normal): void {
    if (this.#state === 'closed') return;
    this.#localGoAway = true;
    this.#sendControl(FrameType.GoAway, 0, 0, reason);
  }

  /**
   * Closes gracefully: sends GoAway, refuses new streams both ways, resets streams nobody
   * accepted, waits for the open streams to finish, then ends the connection. Resolves when
   * the connection is closed. Use destroy() to stop at once.
   */
  close(): Promise<void> {
    if (this.#state === 'open') {
      if (!this.#localGoAway) this.goAway(GoAwayCode.Normal);
      this.#state = 'closing';
      for (const s of this.#backlog) s.destroy();
      this.#backlog = [];
      this.#rejectAcceptWaiters(new SessionClosedError());
      if (this.#streams.size === 0) this.#teardown(undefined, false);
    }
    return this.#closed;
  }

  /** Ends the session now. Open streams are destroyed with `error` or a SessionClosedError. */
  destroy(error?: Error): void {
    this.#teardown(error, true);
    // A graceful end may still be waiting for the peer to close its side: stop waiting.
    if (!this.#conn.destroyed) this.#conn.destroy();
  }

  // ---- receiving ---------------------------------------------------------------------

  readonly #onConnData = (chunk: Buffer): void => {
    try {
      this.#decoder.push(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) {
        debug('%s: %s', this.#label, err.message);
        this.#teardown(err, true, GoAwayCode.ProtocolError);
      } else {
        // An exception from our own code or from an application listener we called.
        const e = err instanceof Error ? err : new Error(String(err));
        debug('%s: internal error: %s', this.#label, e.stack);
        this.#teardown(
          new MuxError('PLUGWIRE_MUX_INTERNAL', `yamux internal error: ${e.message}`, { cause: e }),
          true,
          GoAwayCode.InternalError,
        );
      }
    }
  };

  #onHeader(type: FrameType, flags: number, id: number, length: number): void {
    if (type === FrameType.Data || type === FrameType.WindowUpdate) {
      if (id === 0) throw new ProtocolError(`${frameName(type)} frame on stream id 0`);
      let stream = this.#streams.get(id);
      if (flags & Flag.SYN) stream = this.#incoming(id, stream);
      if (type === FrameType.WindowUpdate) {
        if (stream) {
          stream._onFlags(flags & ~Flag.FIN);
          stream._onWindowUpdate(length);
          if (flags & Flag.FIN) stream._onFlags(Flag.FIN);
        }
        return;
      }
      // A data frame longer than any window we give is a broken or hostile peer, even
      // for a stream that is gone: do not read megabytes just to throw them away.
      if (length > this.#options.maxStreamWindowSize) {
        throw new ProtocolError(
          `data frame of ${length} bytes for stream ${id} exceeds the ${this.#options.maxStreamWindowSize}-byte window`,
        );
      }
      if (stream && !(flags & Flag.RST)) {
        if (flags & Flag.ACK) stream._onFlags(Flag.ACK);
        stream._reserve(length);
        this.#dataStream = stream;
      } else {
        if (stream)
          stream._onFlags(flags); // RST: the payload is discarded
        else if (debug.enabled && length > 0) {
          debug('%s: discarding %d bytes for unknown stream %d', this.#label, length, id);
        }
        this.#dataStream = null;
      }
      this.#dataLeft = length;
      this.#dataFin = (flags & Flag.FIN) !== 0;
      if (length === 0) this.#endOfData();
      return;
    }
    if (type === FrameType.Ping) {
      if (flags & Flag.SYN) {
        this.#sendControl(FrameType.Ping, Flag.ACK, 0, length);
      } else if (flags & Flag.ACK) {
        const ping = this.#pings.get(length);
        if (ping) {
          this.#pings.delete(length);
          clearTimeout(ping.timer);
          ping.resolve(performance.now() - ping.started);
        }
      }
      return;
    }
    // GoAway
    if (length === GoAwayCode.Normal) {
      debug('%s: peer sent GoAway(normal)', this.#label);
      this.#remoteGoAway = true;
      this.emit('goaway', length);
    } else {
      debug('%s: peer sent GoAway(%d)', this.#label, length);
      this.#teardown(new RemoteGoAwayError(length), true);
    }
  }

  #onPayload(piece: Buffer): void {
    this.#dataLeft -= piece.length;
    this.#dataStream?._onData(piece);
    if (this.#dataLeft === 0) this.#endOfData();
  }

  #endOfData(): void {
    const stream = this.#dataStream;
    this.#dataStream = null;
    // FIN is applied after the payload it came with, so the data arrives before the end.
    if (stream && this.#dataFin) stream._onFlags(Flag.FIN);
  }

  /** The peer opened stream `id` (SYN). Returns the new stream, or undefined if refused. */
  #incoming(id: number, existing: Stream | undefined): Stream | undefined {
    if (existing) throw new ProtocolError(`duplicate SYN for stream ${id}`);
    if ((id & 1) === (this.role === 'client' ? 1 : 0)) {
      throw new ProtocolError(
        `peer opened stream ${id}, an id of the ${this.role} side (client ids are odd, server ids even)`,
      );
    }
    if (this.#localGoAway || this.#state !== 'open') {
      this.#sendControl(FrameType.WindowUpdate, Flag.RST, id, 0);
      return undefined;
    }
    const stream = new Stream(this.#owner, this, id, 'synReceived');
    this.#streams.set(id, stream);
    const waiter = this.#acceptWaiters.shift();
    if (waiter) {
      stream._accept();
      waiter.resolve(stream);
    } else if (this.listenerCount('stream') > 0) {
      stream._accept();
      this.emit('stream', stream);
    } else if (this.#backlog.length < this.#options.acceptBacklog) {
      this.#backlog.push(stream);
    } else {
      debug('%s: accept backlog full, resetting stream %d', this.#label, id);
      this.#streams.delete(id);
      this.#sendControl(FrameType.WindowUpdate, Flag.RST, id, 0);
      return undefined;
    }
    return stream;
  }

  readonly #onConnEnd = (): void => {
    // yamux has no half-closed connection: the peer is gone.
    this.#teardown(
      this.#streams.size > 0 ? new SessionClosedError('connection closed by the peer') : undefined,
      true,
    );
  };

  readonly #onConnError = (err: Error): void => {
    this.#teardown(
      this.#state === 'closed'
        ? undefined
        : new SessionClosedError(`connection error: ${err.message}`, { cause: err }),
      true,
    );
  };

  readonly #onConnClose = (): void => {
    clearTimeout(this.#endTimer);
    this.#teardown(undefined, true);
    this.#resolveClosed();
  };

  #sendControl(type: FrameType, flags: number, id: number, length: number): void {
    if (this.#state !== 'closed') this.#writer.sendControl(type, flags, id, length);
  }

  readonly #keepAlive = (): void => {
    this.ping().catch((err: unknown) => {
      if (err instanceof PingTimeoutError) {
        this.#teardown(new KeepAliveTimeoutError(this.#options.connectionWriteTimeout), true);
      }
    });
  };

  // ---- ending ------------------------------------------------------------------------

  #streamDone(stream: Stream): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.#halfClosed.delete(stream);
    if (this.#opening.delete(stream)) this.#grantOpens();
    const i = this.#backlog.indexOf(stream);
    if (i >= 0) this.#backlog.splice(i, 1);
    if (this.#state === 'closing' && this.#streams.size === 0) this.#teardown(undefined, false);
  }

  #rejectAcceptWaiters(err: Error): void {
    const waiters = this.#acceptWaiters;
    this.#acceptWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  /**
   * The one way a session ends. `error` is why (undefined for a clean end); `abort` destroys
   * the connection instead of ending it after the queued frames; `goAway` is sent first.
   */
  #teardown(error: Error | undefined, abort: boolean, goAway?: GoAwayCode): void {
    if (this.#state === 'closed') return;
    if (goAway !== undefined) this.#sendControl(FrameType.GoAway, 0, 0, goAway);
    this.#state = 'closed';
    this.#closeError = error;
    this.#decoder.stop();
    clearInterval(this.#keepAliveTimer);
    this.#opening.clear();
    this.#halfClosed.clear();
    this.#openQueue = [];
    this.#openQueueHead = 0;
    debug('%s: session closed%s', this.#label, error ? `: ${error.message}` : '');

    const streamError = error ?? new SessionClosedError();
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#backlog = [];
    for (const s of streams) s._abort(streamError);
    this.#rejectAcceptWaiters(streamError);
    for (const ping of this.#pings.values()) {
      clearTimeout(ping.timer);
      ping.reject(streamError);
    }
    this.#pings.clear();
    this.#writer.close(streamError);

    const conn = this.#conn;
    conn.off('data', this.#onConnData);
    // Frames of this tick (a GoAway, FINs) still go out when the connection is ended.
    this.#writer.flush();
    if (conn.destroyed) {
      this.#resolveClosed();
    } else if (abort && goAway === undefined) {
      conn.destroy();
    } else {
      // Let the queued frames (GoAway, FINs) reach the peer, but do not wait forever.
      conn.end();
      this.#endTimer = setTimeout(() => conn.destroy(), this.#options.connectionWriteTimeout);
      this.#endTimer.unref();
    }
    this.emit('close', error);
  }
}

function frameName(type: FrameType): string {
  return type === FrameType.Data ? 'Data' : 'WindowUpdate';
}

/** A session in the client role (odd stream ids): the side that dialled, the host in plugwire. */
export function createClientSession(conn: Duplex, options?: SessionOptions): Session {
  return new Session(conn, 'client', options);
}

/** A session in the server role (even stream ids): the side that listened, the plugin. */
export function createServerSession(conn: Duplex, options?: SessionOptions): Session {
  return new Session(conn, 'server', options);
}
