import { INITIAL_STREAM_WINDOW, MAX_UINT32 } from './constants.js';

/** Options of a yamux session. Defaults are those of hashicorp/yamux's DefaultConfig. */
export interface SessionOptions {
  /**
   * Incoming streams that may wait for `acceptStream()` before further ones are refused
   * with RST. Streams are acknowledged (ACK) only when accepted, as in Go.
   * @default 256
   */
  acceptBacklog?: number;
  /**
   * Streams opened here that the peer has not acknowledged (ACK) yet. Beyond it, a new
   * stream waits: its SYN, and whatever is written to it, go out as earlier opens are
   * acknowledged (or end). Go's yamux blocks OpenStream the same way, and refuses with RST
   * the opens beyond its AcceptBacklog of 256 that arrive before its application accepts:
   * a burst of opens to a Go peer must not outrun its backlog.
   * @default 256
   */
  maxPendingOpens?: number;
  /**
   * How long a stream opened here may wait for the peer's ACK. When one waits longer, the
   * peer is taken to be unable to answer and the session is closed with
   * StreamOpenTimeoutError (hashicorp/yamux's StreamOpenTimeout). 0 disables it.
   * @default 75_000 (ms)
   */
  streamOpenTimeout?: number;
  /**
   * How long a stream we half-closed (end(), FIN sent) waits for the peer's FIN. Then it is
   * reset (RST) and leaves the session, so a peer that never closes its side cannot pin the
   * stream's memory (hashicorp/yamux's StreamCloseTimeout). 0 disables it.
   * @default 300_000 (ms, 5 minutes)
   */
  streamCloseTimeout?: number;
  /**
   * Ping the peer every `keepAliveInterval` and close the session when a ping is not
   * answered within `connectionWriteTimeout`, so a dead peer is noticed even on an idle
   * connection.
   * @default true
   */
  enableKeepAlive?: boolean;
  /** @default 30_000 (ms) */
  keepAliveInterval?: number;
  /**
   * How long the connection may take none of our bytes while we wait for 'drain', and how
   * long a ping may go unanswered, before the session is considered dead and closed. Go calls this the
   * "safety valve" timeout.
   * @default 10_000 (ms)
   */
  connectionWriteTimeout?: number;
  /**
   * The receive window of each stream: how many unread bytes the peer may send before it
   * must wait. Values above 256 KiB are announced to the peer in the SYN or ACK frame.
   * Memory held for a stream whose reader does not read is bounded by this value plus the
   * stream's `readableHighWaterMark`.
   * @default 262_144 (256 KiB, the protocol's initial window; also the minimum)
   */
  maxStreamWindowSize?: number;
  /** A label for this session in `plugwire:mux` debug logs. */
  name?: string;
}

/** The longest delay setTimeout honours (it fires at once beyond it). */
const MAX_TIMER_MS = 0x7fff_ffff;

export type ResolvedSessionOptions = Required<SessionOptions>;

export const defaults = {
  acceptBacklog: 256,
  maxPendingOpens: 256,
  streamOpenTimeout: 75_000,
  streamCloseTimeout: 300_000,
  enableKeepAlive: true,
  keepAliveInterval: 30_000,
  connectionWriteTimeout: 10_000,
  maxStreamWindowSize: INITIAL_STREAM_WINDOW,
  name: '',
} as const;

/** Fills in defaults and rejects values yamux cannot honour. */
export function resolveOptions(options: SessionOptions = {}): ResolvedSessionOptions {
  const o: ResolvedSessionOptions = {
    acceptBacklog: options.acceptBacklog ?? defaults.acceptBacklog,
    maxPendingOpens: options.maxPendingOpens ?? defaults.maxPendingOpens,
    streamOpenTimeout: options.streamOpenTimeout ?? defaults.streamOpenTimeout,
    streamCloseTimeout: options.streamCloseTimeout ?? defaults.streamCloseTimeout,
    enableKeepAlive: options.enableKeepAlive ?? defaults.enableKeepAlive,
    keepAliveInterval: options.keepAliveInterval ?? defaults.keepAliveInterval,
    connectionWriteTimeout: options.connectionWriteTimeout ?? defaults.connectionWriteTimeout,
    maxStreamWindowSize: options.maxStreamWindowSize ?? defaults.maxStreamWindowSize,
    name: options.name ?? defaults.name,
  };
  if (!Number.isInteger(o.acceptBacklog) || o.acceptBacklog < 0) {
    throw new RangeError('acceptBacklog must be a non-negative integer');
  }
  if (!Number.isInteger(o.maxPendingOpens) || o.maxPendingOpens < 1) {
    throw new RangeError('maxPendingOpens must be a positive integer');
  }
  for (const name of ['streamOpenTimeout', 'streamCloseTimeout'] as const) {
    const v = o[name];
    if (typeof v !== 'number' || !(v >= 0 && v <= MAX_TIMER_MS)) {
      throw new RangeError(`${name} must be a number of ms in [0, 2^31 - 1] (0 disables it)`);
    }
  }
  if (!(o.keepAliveInterval > 0)) throw new RangeError('keepAliveInterval must be > 0');
  if (!(o.connectionWriteTimeout > 0)) throw new RangeError('connectionWriteTimeout must be > 0');
  if (
    !Number.isInteger(o.maxStreamWindowSize) ||
    o.maxStreamWindowSize < INITIAL_STREAM_WINDOW ||
    o.maxStreamWindowSize > MAX_UINT32
  ) {
    throw new RangeError(
      `maxStreamWindowSize must be an integer in [${INITIAL_STREAM_WINDOW}, 2^32)`,
    );
  }
  return o;
}
