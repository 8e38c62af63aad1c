import createDebug from 'debug';
import { Deadlines } from './deadlines.js';
import { BrokerError, BrokerTimeoutError, SessionClosedError } from './errors.js';
import type { Session } from './session.js';
import type { Stream } from './stream.js';

const debug = createDebug('plugwire:mux:broker');

export interface BrokerOptions {
  /**
   * How long `accept(id)` waits for the peer to dial, how long a dialled stream waits for
   * `accept(id)` here before it is reset, and how long `dial(id)` waits for the ack.
   * go-plugin hard-codes 5 s. It also bounds how long a stream the peer opened may take
   * to send its 4-byte id.
   * @default 5000 (ms)
   */
  timeout?: number;
  /**
   * Streams the peer opened that wait here, for their 4-byte id or for `accept(id)`. A
   * stream beyond it is reset at once, so a peer that opens streams and never names them
   * holds at most this many (each bounded by the session's stream window).
   * @default 256 (Go's yamux AcceptBacklog)
   */
  maxPendingStreams?: number;
}

export const brokerDefaults = {
  timeout: 5000,
  maxPendingStreams: 256,
} as const;

export interface BrokerCallOptions {
  /** Overrides the broker's timeout for this call (ms). */
  timeout?: number;
  /** Aborts the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface PendingAccept {
  resolve: (s: Stream) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

/** A stream the peer opened, still to send its id. */
interface Identifying {
  stream: Stream;
  stop: () => void;
}

interface HeldStream {
  stream: Stream;
  timer: NodeJS.Timeout;
}

/**
 * go-plugin's MuxBroker: extra streams of a session addressed by a numeric id, so that one
 * side can say "connect to me on id N" inside an RPC, and the other can dial N.
 *
 * The dialer opens a stream and writes the id as a little-endian uint32; the acceptor,
 * once `accept(id)` was called, writes the same 4 bytes back as the ack. From then on the
 * stream is a plain byte stream. A dialled id nobody accepts in time is reset; a dial
 * not acknowledged in time fails; an accept with no dial in time fails.
 *
 * Ids: an id lives in the table of the side that accepts it, so the two sides' ids could
 * never be confused anyway; to keep ids unambiguous in logs and to catch a side dialling
 * its own id, the client (host) mints odd ids and the server (plugin) even ones.
 */
export class MuxBroker {
  readonly #session: Session;
  readonly #timeout: number;
  readonly #maxPending: number;
  readonly #identifying: Deadlines<Identifying>;
  #nextId: number;
  readonly #pending = new Map<number, PendingAccept>();
  readonly #held = new Map<number, HeldStream>();
  #closed = false;

  constructor(session: Session, options: BrokerOptions = {}) {
    this.#session = session;
    this.#timeout = options.timeout ?? brokerDefaults.timeout;
    this.#maxPending = options.maxPendingStreams ?? brokerDefaults.maxPendingStreams;
    if (typeof this.#timeout !== 'number' || !(this.#timeout > 0 && this.#timeout <= 0x7fff_ffff)) {
      throw new RangeError('timeout must be a number of ms in (0, 2^31 - 1]');
    }
    if (!Number.isInteger(this.#maxPending) || this.#maxPending < 1) {
      throw new RangeError('maxPendingStreams must be a positive integer');
    }
    this.#identifying = new Deadlines(this.#timeout, (item) => {
      debug('a dialled stream sent no id within %d ms: resetting', this.#timeout);
      item.stop();
      item.stream.destroy();
    });
    this.#nextId = session.role === 'client' ? 1 : 2;
    session.once('close', () => this.close());
  }

  /** Streams the peer dialled that named their id and wait for `accept(id)` here. */
  get heldStreams(): number {
    return this.#held.size;
  }

  /** Streams the peer opened that have not sent their 4-byte id yet. */
  get unidentifiedStreams(): number {
    return this.#identifying.size;
  }

  /** A fresh id for `accept()`: odd on the client (host) side, even on the server side. */
  nextId(): number {
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 2) >>> 0;
    return id;
  }

  /** Takes every stream the peer opens from now on (go-plugin's `Run`). */
  run(): void {
    this.#session.on('stream', (stream) => this.handleStream(stream));
  }

  /**
   * Waits for the peer to dial `id`, acknowledges it and resolves with the stream. The
   * stream keeps a listener for 'error' (errors also surface on reads and writes), so a
   * reset stream never crashes the process.
   */
  accept(id: number, options: BrokerCallOptions = {}): Promise<Stream> {
    if (this.#closed) return Promise.reject(new SessionClosedError('broker closed'));
    if (this.#pending.has(id)) {
      return Promise.reject(new BrokerError(id, 'accept() is already waiting for this id'));
    }
    const held = this.#held.get(id);
    if (held) {
      this.#held.delete(id);
      clearTimeout(held.timer);
      return Promise.resolve(this.#ack(id, held.stream));
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const timeout = options.timeout ?? this.#timeout;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#pending.get(id)?.cleanup();
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        this.#pending.get(id)?.cleanup();
        reject(new BrokerTimeoutError(id, 'no dial arrived', timeout));
      }, timeout);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, { resolve, reject, timer, cleanup });
    });
  }

  /** Opens a stream to the peer's `id` and resolves once the peer acknowledged it. */
  dial(id: number, options: BrokerCallOptions = {}): Promise<Stream> {
    if (this.#closed) return Promise.reject(new SessionClosedError('broker closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let stream: Stream;
    try {
      stream = this.#session.openStream();
    } catch (err) {
      return Promise.reject(err);
    }
    stream.on('error', swallow);
    stream.write(encodeId(id));
    const timeout = options.timeout ?? this.#timeout;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        stream.destroy();
        reject(new BrokerTimeoutError(id, 'dial not acknowledged', timeout));
      }, timeout);
      const onAbort = () => {
        clearTimeout(timer);
        stop();
        stream.destroy();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const stop = readId(stream, (err, ack) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err || ack === undefined) {
          stream.destroy();
          reject(
            new BrokerError(
              id,
              'the peer closed the stream without accepting it (nobody called accept() for this id in time)',
              { cause: err },
            ),
          );
        } else if (ack !== id) {
          stream.destroy();
          reject(new BrokerError(id, `bad ack ${ack}`));
        } else {
          resolve(stream);
        }
      });
    });
  }

  /**
   * Reads the id a peer's dial starts with and hands the stream to the matching `accept()`,
   * or holds it until one comes (reset after the timeout).
   */
  handleStream(stream: Stream): void {
    stream.on('error', swallow);
    if (this.#closed || this.#identifying.size + this.#held.size >= this.#maxPending) {
      debug('%d dialled streams wait already: resetting a new one', this.#maxPending);
      stream.destroy();
      return;
    }
    const item: Identifying = { stream, stop: () => {} };
    this.#identifying.add(item);
    item.stop = readId(stream, (err, id) => {
      this.#identifying.delete(item);
      if (err || id === undefined) {
        stream.destroy();
        return;
      }
      if (this.#closed) {
        stream.destroy();
        return;
      }
      const pending = this.#pending.get(id);
      if (pending) {
        pending.cleanup();
        pending.resolve(this.#ack(id, stream));
        return;
      }
      if (this.#held.has(id)) {
        debug('second dial of id %d refused', id);
        stream.destroy();
        return;
      }
      const timer = setTimeout(() => {
        this.#held.delete(id);
        debug('id %d was dialled but not accepted within %d ms: resetting', id, this.#timeout);
        stream.destroy();
      }, this.#timeout);
      this.#held.set(id, { stream, timer });
      // A dialler that gives up while we hold its stream frees the id.
      stream.once('close', () => {
        const held = this.#held.get(id);
        if (held?.stream === stream) {
          clearTimeout(held.timer);
          this.#held.delete(id);
        }
      });
    });
  }

  /** Fails pending accepts and resets held streams. Called when the session closes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = this.#session.closeError ?? new SessionClosedError('broker closed');
    for (const p of [...this.#pending.values()]) {
      p.cleanup();
      p.reject(err);
    }
    for (const h of this.#held.values()) {
      clearTimeout(h.timer);
      h.stream.destroy();
    }
    this.#held.clear();
    const identifying = [...this.#identifying.keys()];
    this.#identifying.clear();
    for (const item of identifying) {
      item.stop();
      item.stream.destroy();
    }
  }

  #ack(id: number, stream: Stream): Stream {
    stream.write(encodeId(id));
    return stream;
  }
}

function swallow(err: Error): void {
  debug('broker stream error: %s', err.message);
}

function encodeId(id: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(id >>> 0, 0);
  return b;
}

/**
 * Reads the 4-byte little-endian id at the start of a stream, leaving everything after it
 * buffered for the stream's next reader. Returns a function that stops waiting.
 */
function readId(stream: Stream, done: (err: Error | null, id?: number) => void): () => void {
  let finished = false;
  const finish = (err: Error | null, id?: number) => {
    if (finished) return;
    finished = true;
    stream.off('readable', onReadable);
    stream.off('end', onEnd);
    stream.off('close', onEnd);
    stream.off('error', onError);
    done(err, id);
  };
  const onReadable = () => {
    const b: Buffer | null = stream.read(4);
    if (b === null) return;
    if (b.length < 4) finish(null);
    else finish(null, b.readUInt32LE(0));
  };
  const onEnd = () => finish(null);
  const onError = (err: Error) => finish(err);
  stream.on('readable', onReadable);
  stream.on('end', onEnd);
  stream.on('close', onEnd);
  stream.on('error', onError);
  return () => {
    finished = true;
    stream.off('readable', onReadable);
    stream.off('end', onEnd);
    stream.off('close', onEnd);
    stream.off('error', onError);
  };
}
