/**
 * @plugwire/rpc: a JSON-RPC 2.0 peer over any byte Duplex (a socket, a yamux stream), with
 * length-prefixed framing, json and msgpack codecs, cancellation and timeouts. Everything a
 * user imports is listed here.
 *
 * @example Serve and call over a TCP socket:
 * ```ts
 * import { once } from 'node:events';
 * import { type AddressInfo, connect, createServer } from 'node:net';
 * import { RpcPeer } from '@plugwire/rpc';
 *
 * const server = createServer((socket) => {
 *   const peer = new RpcPeer(socket); // msgpack by default: both ends must agree
 *   peer.handle('add', ([a, b]: [number, number]) => a + b);
 * }).listen(0, '127.0.0.1');
 * await once(server, 'listening');
 * const { port } = server.address() as AddressInfo;
 * const client = new RpcPeer(connect(port, '127.0.0.1'));
 * console.log(await client.request('add', [1, 2])); // 3
 * await client.close();
 * server.close();
 * ```
 *
 * @packageDocumentation
 */

export { ReceiveBudget } from './budget.js';
export { type Codec, codecByName, codecNames } from './codec.js';
export { jsonCodec } from './codecs/json.js';
export { msgpackCodec } from './codecs/msgpack.js';
export { defaults, type RpcPeerOptions } from './config.js';
export type { FallbackHandler, Handler, RequestContext } from './dispatch.js';
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
export { type RequestOptions, RpcPeer } from './peer.js';
