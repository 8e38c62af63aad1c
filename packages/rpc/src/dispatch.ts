// The incoming side of a peer: handlers, dispatch of requests and notifications, batches,
// cancellation of running handlers, and the responses to them.
//
// Hot-path rule (docs/rpc.md, "Performance"): the handler's AbortSignal is only created if
// the handler reads `ctx.signal`.

import type { Codec } from './codec.js';
import { CancelledError, ErrorCodes, type ErrorObject } from './errors.js';
import {
  CANCEL_METHOD,
  classify,
  errorResponse,
  idOfInvalid,
  isId,
  JSONRPC_VERSION,
  type JsonRpcId,
  type JsonRpcResponse,
  MessageKind,
} from './messages.js';
import type { RpcPeer } from './peer.js';
import { encodingFailure, toErrorObject } from './wire-error.js';

/** What a handler gets besides the params. */
export interface RequestContext {
  /**
   * Fires when the caller cancels the request (`$/cancelRequest`, its timeout) or the
   * connection closes. Pass it on to whatever the handler waits for.
   */
  readonly signal: AbortSignal;
  /** The request id; undefined for a notification. */
  readonly id: JsonRpcId | null | undefined;
  readonly method: string;
  /** The peer the request arrived on, e.g. to call back the caller. */
  readonly peer: RpcPeer;
}

/**
 * Serves one method. Its return value (or what its promise resolves to) is the result; what
 * it throws is the error response: an RpcError as it is, anything else as ApplicationError.
 */
export type Handler<P = any, R = unknown> = (params: P, ctx: RequestContext) => R | Promise<R>;

/** Serves every method that has no handler of its own (e.g. routing `kv.get` by prefix). */
export type FallbackHandler = (method: string, params: any, ctx: RequestContext) => unknown;

/** What the dispatcher needs from its peer. */
export interface DispatchIo {
  readonly peer: RpcPeer;
  readonly codec: Codec;
  readonly exposeStack: boolean;
  /** False once the peer is closed: nothing more is sent. */
  isOpen(): boolean;
  /** Encodes and queues one message. @throws MessageTooLargeError, CodecError. */
  send(message: unknown): void;
  /** A response (or an error response) arrived. */
  receiveResponse(id: JsonRpcId | null, result: unknown, error: unknown): void;
  /** Something shaped like a response but not a valid one arrived. */
  receiveInvalidResponse(message: unknown): void;
  debug(format: string, ...args: unknown[]): void;
}

/** The context of one incoming request or notification. */
class IncomingContext implements RequestContext {
  readonly peer: RpcPeer;
  readonly id: JsonRpcId | null | undefined;
  readonly method: string;
  cancelled = false;
  private controller: AbortController | undefined = undefined;
  private abortReason: unknown = undefined;
  constructor(peer: RpcPeer, id: JsonRpcId | null | undefined, method: string) {
    this.peer = peer;
    this.id = id;
    this.method = method;
  }
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }
  abort(reason: unknown): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** Collects the responses to one incoming batch, sent as one array when all are in. */
class BatchReply {
  readonly responses: JsonRpcResponse[] = [];
  /** Requests of the batch still running, plus one while the batch is being dispatched. */
  outstanding = 1;
}

const METHOD_NOT_FOUND = Symbol('method not found');

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value instanceof Promise ||
    (((typeof value === 'object' && value !== null) || typeof value === 'function') &&
      typeof (value as PromiseLike<unknown>).then === 'function')
  );
}

/** Serves what the remote sends: the handlers of one peer and the handlers running. */
export class Dispatcher {
  readonly #io: DispatchIo;
  readonly #handlers = new Map<string, Handler>();
  #fallback: FallbackHandler | undefined = undefined;
  /** Incoming requests whose handler has not settled yet, by id, for `$/cancelRequest`. */
  readonly #incoming = new Map<JsonRpcId, IncomingContext>();
  /** Other unsettled handlers (notifications, null or duplicate ids): aborted on close. */
  readonly #untracked = new Set<IncomingContext>();

  constructor(io: DispatchIo) {
    this.#io = io;
  }

  /** See RpcPeer.handle. */
  handle(method: string, handler: Handler): () => void {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    if (method === CANCEL_METHOD) throw new Error(`"${CANCEL_METHOD}" is handled by the peer`);
    if (this.#handlers.has(method))
      throw new Error(`a handler for "${method}" is already registered`);
    this.#handlers.set(method, handler);
    return () => {
      if (this.#handlers.get(method) === handler) this.#handlers.delete(method);
    };
  }

  /** See RpcPeer.handleFallback. */
  handleFallback(handler: FallbackHandler): () => void {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    if (this.#fallback !== undefined) throw new Error('a fallback handler is already registered');
    this.#fallback = handler;
    return () => {
      if (this.#fallback === handler) this.#fallback = undefined;
    };
  }

  /** One decoded message (or batch) from the remote. */
  receive(message: unknown): void {
    if (Array.isArray(message)) this.#receiveBatch(message);
    else this.#receiveMessage(message, undefined);
  }

  /** Aborts every running handler's signal (the peer closed). */
  abortAll(reason: Error): void {
    const running = [...this.#incoming.values(), ...this.#untracked];
    this.#incoming.clear();
    this.#untracked.clear();
    for (const ctx of running) ctx.abort(reason);
  }

  /** Sends one response, or collects it into its batch. */
  reply(response: JsonRpcResponse, batch: BatchReply | undefined): void {
    if (batch !== undefined) {
      batch.responses.push(response);
      if (--batch.outstanding === 0) this.#sendBatch(batch);
      return;
    }
    const io = this.#io;
    if (!io.isOpen()) return;
    try {
      io.send(response);
    } catch (err) {
      io.send(this.#encodingFailure(response, err));
    }
  }

  #sendBatch(batch: BatchReply): void {
    const responses = batch.responses;
    const io = this.#io;
    // All notifications (or only responses): nothing to send (spec, section 6).
    if (responses.length === 0 || !io.isOpen()) return;
    try {
      io.send(responses);
    } catch {
      // Find the responses that cannot be encoded and replace them with errors.
      const fixed = responses.map((r) => {
        try {
          io.codec.encode(r);
          return r;
        } catch (err) {
          return this.#encodingFailure(r, err);
        }
      });
      try {
        io.send(fixed);
      } catch (err) {
        // Each fits, all together do not: every result becomes a MessageTooLarge error.
        io.send(fixed.map((r) => this.#encodingFailure(r, err)));
      }
    }
  }

  #encodingFailure(response: JsonRpcResponse, err: unknown): JsonRpcResponse {
    this.#io.debug('cannot send the response to %o: %s', response.id, (err as Error).message);
    return encodingFailure(response, err);
  }

  #replyError(
    id: JsonRpcId | null,
    method: string,
    err: unknown,
    batch: BatchReply | undefined,
  ): void {
    const error: ErrorObject = toErrorObject(err, this.#io.exposeStack);
    this.#io.debug('handler "%s" failed: %d %s', method, error.code, error.message);
    this.reply({ jsonrpc: JSONRPC_VERSION, id, error }, batch);
  }

  #receiveBatch(messages: unknown[]): void {
    if (messages.length === 0) {
      this.reply(errorResponse(null, ErrorCodes.InvalidRequest, 'Invalid Request'), undefined);
      return;
    }
    const batch = new BatchReply();
    for (let i = 0; i < messages.length && this.#io.isOpen(); i++) {
      this.#receiveMessage(messages[i], batch);
    }
    if (--batch.outstanding === 0) this.#sendBatch(batch);
  }

  #receiveMessage(message: unknown, batch: BatchReply | undefined): void {
    const kind = classify(message);
    const m = message as Record<string, any>;
    switch (kind) {
      case MessageKind.Response:
        this.#io.receiveResponse(m.id, m.result, m.error ?? undefined);
        return;
      case MessageKind.Request:
        if (batch !== undefined) batch.outstanding++;
        this.#receiveRequest(m.id, m.method, m.params ?? undefined, batch);
        return;
      case MessageKind.Notification:
        this.#receiveNotification(m.method, m.params ?? undefined);
        return;
      case MessageKind.InvalidResponse:
        this.#io.receiveInvalidResponse(message);
        return;
      default:
        this.#io.debug('invalid request: %o', message);
        if (batch !== undefined) batch.outstanding++;
        this.reply(
          errorResponse(idOfInvalid(message), ErrorCodes.InvalidRequest, 'Invalid Request'),
          batch,
        );
    }
  }

  #receiveRequest(
    id: JsonRpcId | null,
    method: string,
    params: unknown,
    batch: BatchReply | undefined,
  ): void {
    if (method === CANCEL_METHOD) {
      this.#receiveCancel(params);
      this.reply({ jsonrpc: JSONRPC_VERSION, id, result: null }, batch);
      return;
    }
    const ctx = new IncomingContext(this.#io.peer, id, method);
    let result: unknown;
    let thenable: boolean;
    try {
      result = this.#invoke(method, params, ctx);
      // Inside the try: a `then` getter is user code too.
      thenable = isThenable(result);
    } catch (err) {
      this.#replyError(id, method, err, batch);
      return;
    }
    if (result === METHOD_NOT_FOUND) {
      this.reply(
        errorResponse(id, ErrorCodes.MethodNotFound, 'Method not found', { method }),
        batch,
      );
    } else if (thenable) {
      // By id, to be cancelled; a null id or a duplicate of one in flight cannot be.
      if (id !== null && !this.#incoming.has(id)) this.#incoming.set(id, ctx);
      else this.#untracked.add(ctx);
      void this.#awaitResult(ctx, result as PromiseLike<unknown>, batch);
    } else {
      this.reply({ jsonrpc: JSONRPC_VERSION, id, result: result ?? null }, batch);
    }
  }

  async #awaitResult(
    ctx: IncomingContext,
    promise: PromiseLike<unknown>,
    batch: BatchReply | undefined,
  ): Promise<void> {
    let result: unknown;
    let error: unknown;
    let failed = false;
    try {
      result = await promise;
    } catch (err) {
      failed = true;
      error = err;
    }
    const id = ctx.id as JsonRpcId | null;
    if (id !== null && this.#incoming.get(id) === ctx) this.#incoming.delete(id);
    else this.#untracked.delete(ctx);
    if (ctx.cancelled) {
      // The caller has stopped waiting; answer as LSP servers do, without the result.
      this.reply(errorResponse(id, ErrorCodes.RequestCancelled, 'Request cancelled'), batch);
    } else if (failed) {
      this.#replyError(id, ctx.method, error, batch);
    } else {
      this.reply({ jsonrpc: JSONRPC_VERSION, id, result: result ?? null }, batch);
    }
  }

  #receiveNotification(method: string, params: unknown): void {
    if (method === CANCEL_METHOD) {
      this.#receiveCancel(params);
      return;
    }
    const ctx = new IncomingContext(this.#io.peer, undefined, method);
    try {
      const result = this.#invoke(method, params, ctx);
      if (result === METHOD_NOT_FOUND) {
        this.#io.debug('no handler for notification "%s"', method);
      } else if (isThenable(result)) {
        this.#untracked.add(ctx);
        Promise.resolve(result).then(
          () => this.#untracked.delete(ctx),
          (err: unknown) => {
            this.#untracked.delete(ctx);
            this.#io.debug('notification handler "%s" failed: %O', method, err);
          },
        );
      }
    } catch (err) {
      this.#io.debug('notification handler "%s" threw: %O', method, err);
    }
  }

  #invoke(method: string, params: unknown, ctx: IncomingContext): unknown {
    const handler = this.#handlers.get(method);
    if (handler !== undefined) return handler(params, ctx);
    if (this.#fallback !== undefined) return this.#fallback(method, params, ctx);
    return METHOD_NOT_FOUND;
  }

  #receiveCancel(params: unknown): void {
    const id = (params as { id?: unknown } | undefined)?.id;
    const ctx = isId(id) ? this.#incoming.get(id) : undefined;
    if (ctx === undefined) return;
    this.#incoming.delete(id as JsonRpcId);
    ctx.abort(new CancelledError(ctx.method, 'cancelled by the caller'));
  }
}
