import type { ReceiveBudget } from './budget.js';
import type { Codec } from './codec.js';
import { msgpackCodec } from './codecs/msgpack.js';
import { MAX_FRAME_LENGTH } from './framing.js';

/** Options of an RpcPeer. Every field is optional; `defaults` holds the values used. */
export interface RpcPeerOptions {
  /**
   * How messages are encoded on this connection; both ends must use the same one (the
   * plugwire handshake negotiates it). See `codecByName`.
   * @default msgpackCodec (a plugwire peer talks to a plugwire peer unless told otherwise,
   *   and msgpack carries binary values natively; use jsonCodec for a foreign peer that
   *   only speaks JSON)
   */
  codec?: Codec;
  /**
   * The largest encoded message, in bytes, either way. An incoming frame whose header
   * announces more closes the connection with MessageTooLargeError before its body is read;
   * an outgoing message over it rejects (request) or becomes a MessageTooLarge error
   * response, and the connection stays open. Set the same value on both ends.
   * @default 67_108_864 (64 MiB)
   */
  maxMessageSize?: number;
  /**
   * A budget shared by the peers of one connection (all the streams of one yamux session):
   * the bytes of partly received messages they hold, in all, stay under its limit. A peer
   * whose next bytes would exceed it closes with ReceiveBudgetExceededError. @plugwire/core
   * gives every peer of a plugin connection one budget of 2 × maxMessageSize.
   * @default undefined (each peer is bounded by maxMessageSize alone)
   */
  receiveBudget?: ReceiveBudget | undefined;
  /** A label for this peer in `plugwire:rpc` debug logs, e.g. `host` or a plugin name. */
  name?: string;
  /**
   * Include the stack of an error thrown by a handler in the error response's
   * `data.stack`. Off by default: stacks reveal paths and code to the other side.
   * @default false
   */
  exposeStack?: boolean;
  /**
   * Called when the connection is lost (not closed by this side) with the
   * ConnectionClosedError pending requests would reject with; they reject with what it
   * returns (or resolves to) instead. @plugwire/core uses it to wait briefly for the plugin
   * process's exit status and reject with PluginExitedError. If it throws, the original
   * error is used.
   */
  connectionLost?: ((error: Error) => Error | Promise<Error>) | undefined;
}

export type ResolvedRpcPeerOptions = Required<
  Omit<RpcPeerOptions, 'connectionLost' | 'receiveBudget'>
> &
  Pick<RpcPeerOptions, 'connectionLost' | 'receiveBudget'>;

export const defaults = {
  codec: msgpackCodec,
  maxMessageSize: 64 * 1024 * 1024,
  name: 'rpc',
  exposeStack: false,
} as const;

/** Fills in defaults and rejects values the peer cannot honour. */
export function resolveOptions(options: RpcPeerOptions = {}): ResolvedRpcPeerOptions {
  const o: ResolvedRpcPeerOptions = {
    codec: options.codec ?? defaults.codec,
    maxMessageSize: options.maxMessageSize ?? defaults.maxMessageSize,
    name: options.name ?? defaults.name,
    exposeStack: options.exposeStack ?? defaults.exposeStack,
    connectionLost: options.connectionLost,
    receiveBudget: options.receiveBudget,
  };
  if (o.receiveBudget !== undefined && typeof o.receiveBudget?.take !== 'function') {
    throw new TypeError('receiveBudget must be a ReceiveBudget');
  }
  if (o.connectionLost !== undefined && typeof o.connectionLost !== 'function') {
    throw new TypeError('connectionLost must be a function');
  }
  if (
    !Number.isInteger(o.maxMessageSize) ||
    o.maxMessageSize < 1 ||
    o.maxMessageSize > MAX_FRAME_LENGTH
  ) {
    throw new RangeError('maxMessageSize must be an integer in [1, 2^32 - 1]');
  }
  if (typeof o.codec?.encode !== 'function' || typeof o.codec.decode !== 'function') {
    throw new TypeError('codec must have encode() and decode() (see codecByName)');
  }
  return o;
}
