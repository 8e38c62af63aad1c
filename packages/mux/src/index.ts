/**
 * @plugwire/mux: yamux sessions and streams, byte-compatible with hashicorp/yamux, and
 * go-plugin's MuxBroker. Everything a user needs is exported here and nowhere else.
 *
 * @example Two sessions over an in-memory pair (a unix socket works the same way):
 * ```ts
 * import { createClientSession, createServerSession, duplexPair } from '@plugwire/mux';
 *
 * const [a, b] = duplexPair();
 * const client = createClientSession(a); // odd stream ids: the side that dialled
 * const server = createServerSession(b); // even stream ids: the side that listened
 * server.on('stream', (stream) => stream.pipe(stream)); // echo every stream the peer opens
 *
 * const stream = client.openStream(); // a Node Duplex: end() sends FIN, destroy() RST
 * stream.end('hello');
 * for await (const chunk of stream) console.log(String(chunk)); // hello
 * await Promise.all([client.close(), server.close()]);
 * ```
 *
 * @packageDocumentation
 */

export { type BrokerCallOptions, type BrokerOptions, MuxBroker } from './broker.js';
export { defaults as sessionDefaults, type SessionOptions } from './config.js';
export { GoAwayCode } from './constants.js';
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
export { duplexPair } from './pair.js';
export {
  createClientSession,
  createServerSession,
  Session,
  type SessionEvents,
  type SessionRole,
  type SessionState,
} from './session.js';
export { Stream, type StreamState } from './stream.js';
