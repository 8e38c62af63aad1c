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
   * Ping the peer every `keepAliveInterval` and close the session when a ping is not
   * answered within `connectionWriteTimeout`, so a dead peer is noticed even on an idle
   * connection.
   * @default true
   */
  enableKeepAlive?: boolean;
  /** @default 30_000 (ms) */
  keepAliveInterval?: number;
  /**
   * How long the connection may refuse our writes (no 'drain'), and how long a ping may go
   * unanswered, before the session is considered dead and closed. Go calls this the
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

export type ResolvedSessionOptions = Required<SessionOptions>;

export const defaults = {
  acceptBacklog: 256,
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
    enableKeepAlive: options.enableKeepAlive ?? defaults.enableKeepAlive,
    keepAliveInterval: options.keepAliveInterval ?? defaults.keepAliveInterval,
    connectionWriteTimeout: options.connectionWriteTimeout ?? defaults.connectionWriteTimeout,
    maxStreamWindowSize: options.maxStreamWindowSize ?? defaults.maxStreamWindowSize,
    name: options.name ?? defaults.name,
  };
  if (!Number.isInteger(o.acceptBacklog) || o.acceptBacklog < 0) {
    throw new RangeError('acceptBacklog must be a non-negative integer');
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
