// @plugwire/mux: yamux sessions and streams, byte-compatible with hashicorp/yamux, and
// go-plugin's MuxBroker. Everything a user needs is exported here and nowhere else.

export { type BrokerCallOptions, type BrokerOptions, MuxBroker } from './broker.js';
export { defaults as sessionDefaults, type SessionOptions } from './config.js';
export { Flag, FrameType, GoAwayCode, INITIAL_STREAM_WINDOW } from './constants.js';
export {
  BrokerError,
  BrokerTimeoutError,
  KeepAliveTimeoutError,
  MuxError,
  PingTimeoutError,
  ProtocolError,
  RemoteGoAwayError,
  SessionClosedError,
  StreamCloseTimeoutError,
  StreamOpenTimeoutError,
  StreamResetError,
  StreamsExhaustedError,
  WriteTimeoutError,
} from './errors.js';
export { Session, type SessionEvents, type SessionRole, type SessionState } from './session.js';
export { Stream, type StreamState } from './stream.js';

import type { Duplex } from 'node:stream';
import type { SessionOptions } from './config.js';
import { Session } from './session.js';

/** A session in the client role (odd stream ids): the side that dialled, the host in plugwire. */
export function createClientSession(conn: Duplex, options?: SessionOptions): Session {
  return new Session(conn, 'client', options);
}

/** A session in the server role (even stream ids): the side that listened, the plugin. */
export function createServerSession(conn: Duplex, options?: SessionOptions): Session {
  return new Session(conn, 'server', options);
}
export { duplexPair } from './pair.js';
