// The public surface of @plugwire/rpc: everything a user imports is listed here.

export { ReceiveBudget } from './budget.js';
export { type Codec, codecByName, codecNames } from './codec.js';
export { jsonCodec } from './codecs/json.js';
export { msgpackCodec } from './codecs/msgpack.js';
export { defaults, type RpcPeerOptions } from './config.js';
export {
  CancelledError,
  CodecError,
  ConnectionClosedError,
  type ErrorCode,
  ErrorCodes,
  type ErrorObject,
  MessageTooLargeError,
  ProtocolError,
  ReceiveBudgetExceededError,
  RpcError,
  RpcPeerError,
  TimeoutError,
} from './errors.js';
export type { OutputBuffer } from './framing.js';
export type {
  JsonRpcErrorResponse,
  JsonRpcId,
  JsonRpcMessage,
  JsonRpcNotification,
  JsonRpcParams,
  JsonRpcRequest,
  JsonRpcResponse,
  JsonRpcSuccessResponse,
} from './messages.js';
export {
  type FallbackHandler,
  type Handler,
  type RequestContext,
  type RequestOptions,
  RpcPeer,
} from './peer.js';
