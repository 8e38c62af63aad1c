// @plugwire/core: what a host and a plugin author import. The layers below (mux, rpc) are
// re-exported where a user meets them: errors to branch on, the RPC peer and the broker.

export {
  BrokerError,
  BrokerTimeoutError,
  MuxBroker,
  MuxError,
  SessionClosedError,
  type Stream,
  StreamResetError,
} from '@plugwire/mux';
export {
  CancelledError,
  type Codec,
  ConnectionClosedError,
  ErrorCodes,
  MessageTooLargeError,
  type RequestContext,
  type RequestOptions,
  RpcError,
  RpcPeer,
  TimeoutError,
} from '@plugwire/rpc';
export {
  type ChecksumConfig,
  ChecksumCoverageError,
  ChecksumMismatchError,
} from './checksum.js';
export { cleanupClients } from './cleanup.js';
export {
  PluginClient,
  type PluginClientEvents,
  type PluginClientState,
  type PluginInfoResponse,
} from './client.js';
export type { PluginClientOptions } from './config.js';
export { CORE_PROTOCOL_VERSION, ControlMethod, CoreErrorCode, Env } from './constants.js';
export {
  ClientStateError,
  ConnectionLostError,
  type ExitStatus,
  HandshakeError,
  PluginExitedError,
  PlugwireError,
  StartTimeoutError,
  UnknownPluginError,
} from './errors.js';
export type { Handshake, HandshakeConfig } from './handshake.js';
export {
  connectInProcess,
  type InProcessConnection,
  type InProcessOptions,
} from './inprocess.js';
export {
  createLogger,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogRecord,
} from './logs.js';
export type { Plugin, PluginContext, PluginSet } from './plugin.js';
export { EXIT_REASON, type SpawnFunction } from './process.js';
export { type ReattachConfig, ReattachError } from './reattach.js';
export { type PluginServer, type ServeOptions, serve } from './server.js';
