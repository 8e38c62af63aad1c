// The JSON-RPC 2.0 peer: both ends call and serve on one Duplex. Dispatch of incoming
// messages, the table of pending outgoing requests, cancellation and timeouts.
//
// Hot-path rules (docs/rpc.md, "Performance"): one stream write per message (header and body
// in one buffer); O(1) pending map keyed by a numeric id; one closure per request (the Promise
// executor); a timer only for requests that asked for a timeout; one 'abort' listener per
// AbortSignal however many requests share it, removed when the last of them settles; the
// handler's AbortSignal is only created if the handler reads `ctx.signal`.

import { EventEmitter } from 'node:events';
import { type Duplex, finished } from 'node:stream';
import createDebug from 'debug';
import type { Codec } from './codec.js';
import { type ResolvedRpcPeerOptions, type RpcPeerOptions, resolveOptions } from './config.js';
import {
  CancelledError,
  ConnectionClosedError,
  ErrorCodes,
  type ErrorObject,
  MessageTooLargeError,
  ProtocolError,
  ReceiveBudgetExceededError,
  RpcError,
  TimeoutError,
} from './errors.js';
import { FrameDecoder, FrameWriter } from './framing.js';
import {
  CANCEL_METHOD,
  classify,
  errorResponse,
  idOfInvalid,
  isId,
  JSONRPC_VERSION,
  type JsonRpcErrorResponse,
  type JsonRpcId,
  type JsonRpcResponse,
  MessageKind,
} from './messages.js';

const log = createDebug('plugwire:rpc');

/** Per-call options of `request()`. */
export interface RequestOptions {
  /** Aborting it cancels the request: `$/cancelRequest` is sent, the call rejects with CancelledError. */
  signal?: AbortSignal;
  /** Milliseconds to wait for the response; then the call rejects with TimeoutError and is cancelled remotely. */
  timeout?: number;
}

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

type State = 'open' | 'closed';

/** An outgoing request waiting for its response. */
class PendingRequest {
  resolve!: (value: unknown) => void;
  reject!: (reason: unknown) => void;
  timer: NodeJS.Timeout | undefined = undefined;
  signal: SignalWatch | undefined = undefined;
  readonly id: number;
  readonly method: string;
  constructor(id: number, method: string) {
    this.id = id;
    this.method = method;
  }
}

/**
 * The one 'abort' listener of this peer on one AbortSignal, shared by every pending request
 * that uses the signal (an object with handleEvent: no closure per request).
 */
class SignalWatch {
  readonly requests = new Set<PendingRequest>();
  readonly peer: RpcPeer;
  readonly signal: AbortSignal;
  constructor(peer: RpcPeer, signal: AbortSignal) {
    this.peer = peer;
    this.signal = signal;
  }
  handleEvent(): void {
    const reason = this.signal.reason;
    for (const request of this.requests) {
      this.peer._cancel(request, new CancelledError(request.method, reason));
    }
  }
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

function onTimeout(peer: RpcPeer, request: PendingRequest, timeout: number): void {
  peer._cancel(request, new TimeoutError(request.method, timeout));
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value instanceof Promise ||
    (((typeof value === 'object' && value !== null) || typeof value === 'function') &&
      typeof (value as PromiseLike<unknown>).then === 'function')
  );
}

function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}

/**
 * A symmetric JSON-RPC 2.0 peer over one Duplex (a yamux stream, a socket, an in-memory
 * pair): each end may call (`request`, `notify`) and serve (`handle`) on the same connection.
 *
 * Events: `'close' (reason?: Error)` once, when the peer closes for any reason; `reason` is
 * undefined for a clean close (local close(), or the remote ended the stream between
 * messages). The peer never emits 'error': failures reject the calls they concern, and a
 * broken connection closes the peer.
 */
export class RpcPeer extends EventEmitter {
  readonly stream: Duplex;
  readonly codec: Codec;
  readonly maxMessageSize: number;
  readonly name: string;
  private readonly exposeStack: boolean;
  private readonly connectionLost: ((error: Error) => Error | Promise<Error>) | undefined;
  /** What requests reject with after a lost connection, once connectionLost has answered. */
  private lostError: Promise<Error> | undefined = undefined;
  private state: State = 'open';
  private reason: Error | undefined = undefined;
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly signals = new Map<AbortSignal, SignalWatch>();
  /** Incoming requests whose handler has not settled yet, by id, for `$/cancelRequest`. */
  private readonly incoming = new Map<JsonRpcId, IncomingContext>();
  /** Other unsettled handlers (notifications, null or duplicate ids): aborted on close. */
  private readonly untracked = new Set<IncomingContext>();
  private readonly handlers = new Map<string, Handler>();
  private fallback: FallbackHandler | undefined = undefined;
  private lastId = 0;
  private wrapped = false;
  /** The last error response with a null id: the remote's complaint about our traffic. */
  private remoteError: RpcError | undefined = undefined;
  private closing: Promise<void> | undefined = undefined;

  constructor(stream: Duplex, options?: RpcPeerOptions) {
    super();
    const o: ResolvedRpcPeerOptions = resolveOptions(options);
    this.stream = stream;
    this.codec = o.codec;
    this.maxMessageSize = o.maxMessageSize;
    this.name = o.name;
    this.exposeStack = o.exposeStack;
    this.connectionLost = o.connectionLost;
    this.decoder = new FrameDecoder(
      o.maxMessageSize,
      (bytes, start, end) => this.receiveFrame(bytes, start, end),
      o.receiveBudget,
    );
    this.writer = new FrameWriter(o.maxMessageSize, (bytes) => this.stream.write(bytes));
    stream.on('data', (chunk: unknown) => this.receiveChunk(chunk));
    stream.on('end', () => this.onStreamEnd());
    stream.on('close', () => this.onStreamClose());
    // Always listen: an 'error' without a listener would throw and take the process down.
    stream.on('error', (err: Error) => this.onStreamError(err));
    if (stream.destroyed) {
      this.shutdown(new ConnectionClosedError('the stream was already destroyed'), false, true);
    }
  }

  /** True once the peer is closed: calls reject with ConnectionClosedError. */
  get closed(): boolean {
    return this.state !== 'open';
  }

  /** Why the peer closed (undefined while open, or for a clean close). */
  get closeReason(): Error | undefined {
    return this.reason;
  }

  /** Number of outgoing requests waiting for their response. */
  get pendingRequests(): number {
    return this.pending.size;
  }

  /**
   * Registers the handler of `method`, for requests and notifications alike.
   * @returns a function that unregisters it.
   * @throws Error when `method` already has a handler.
   */
  handle<P = any, R = unknown>(method: string, handler: Handler<P, R>): () => void {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    if (method === CANCEL_METHOD) throw new Error(`"${CANCEL_METHOD}" is handled by the peer`);
    if (this.handlers.has(method))
      throw new Error(`a handler for "${method}" is already registered`);
    this.handlers.set(method, handler as Handler);
    return () => {
      if (this.handlers.get(method) === handler) this.handlers.delete(method);
    };
  }

  /**
   * Registers the handler of every method without a handler of its own. It may throw
   * `new RpcError(ErrorCodes.MethodNotFound, …)` for methods it does not know either.
   * @returns a function that unregisters it.
   */
  handleFallback(handler: FallbackHandler): () => void {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    if (this.fallback !== undefined) throw new Error('a fallback handler is already registered');
    this.fallback = handler;
    return () => {
      if (this.fallback === handler) this.fallback = undefined;
    };
  }

  /**
   * Calls `method` on the remote and resolves with its result.
   * @param params an array (by position) or an object (by name), or undefined for none.
   * @throws (rejects) RpcError for an error response, TimeoutError, CancelledError,
   *   ConnectionClosedError, MessageTooLargeError (nothing was sent), CodecError (params
   *   cannot be encoded), TypeError (invalid arguments).
   */
  request<R = unknown>(method: string, params?: unknown, options?: RequestOptions): Promise<R> {
    if (this.state !== 'open') {
      const lostError = this.lostError;
      return lostError === undefined
        ? Promise.reject(this.closedError())
        : lostError.then((e) => Promise.reject(e));
    }
    if (typeof method !== 'string') {
      return Promise.reject(new TypeError('method must be a string'));
    }
    if (params !== undefined && (typeof params !== 'object' || params === null)) {
      return Promise.reject(
        new TypeError('params must be an array or an object (JSON-RPC 2.0, section 4.2)'),
      );
    }
    let signal: AbortSignal | undefined;
    let timeout: number | undefined;
    if (options !== undefined) {
      signal = options.signal;
      timeout = options.timeout;
      if (signal?.aborted) return Promise.reject(new CancelledError(method, signal.reason));
      if (timeout !== undefined && !(timeout >= 0 && timeout <= 0x7fffffff)) {
        return Promise.reject(new RangeError('timeout must be a number of ms in [0, 2^31 - 1]'));
      }
    }
    const id = this.nextId();
    try {
      this.send(
        params === undefined
          ? { jsonrpc: JSONRPC_VERSION, id, method }
          : { jsonrpc: JSONRPC_VERSION, id, method, params },
      );
    } catch (err) {
      return Promise.reject(err);
    }
    const request = new PendingRequest(id, method);
    const promise = new Promise<R>((resolve, reject) => {
      request.resolve = resolve as (value: unknown) => void;
      request.reject = reject;
    });
    // The frame leaves at the end of the tick (FrameWriter), after this registration.
    this.pending.set(id, request);
    if (timeout !== undefined)
      request.timer = setTimeout(onTimeout, timeout, this, request, timeout);
    if (signal !== undefined) this.watch(signal, request);
    return promise;
  }

  /**
   * Sends a notification: no response, no error from the remote, and nothing if the peer is
   * closed. Throws synchronously for invalid arguments and unencodable or too large params.
   */
  notify(method: string, params?: unknown): void {
    if (typeof method !== 'string') throw new TypeError('method must be a string');
    if (params !== undefined && (typeof params !== 'object' || params === null)) {
      throw new TypeError('params must be an array or an object (JSON-RPC 2.0, section 4.2)');
    }
    if (this.state !== 'open') return;
    this.send(
      params === undefined
        ? { jsonrpc: JSONRPC_VERSION, method }
        : { jsonrpc: JSONRPC_VERSION, method, params },
    );
  }

  /**
   * Hands the messages written so far to the stream now. Writes are otherwise gathered and
   * flushed at the end of the tick; a producer that loops without ever yielding to the
   * event loop (an async generator over ready data) calls this to see the stream's
   * backpressure (`writableNeedDrain`) as it goes.
   */
  flush(): void {
    this.writer.flush();
  }

  /**
   * Closes gracefully: new calls reject, pending requests reject with ConnectionClosedError,
   * running handlers' signals fire, and the stream is ended after what was already written.
   * Resolves when the stream's writable side is finished (or the stream is gone).
   */
  close(): Promise<void> {
    this.shutdown(undefined, false, false);
    this.closing ??= new Promise<void>((resolve) => {
      const stream = this.stream;
      if (stream.destroyed || stream.writableFinished) return resolve();
      finished(stream, { readable: false }, () => resolve());
    });
    return this.closing;
  }

  /** Closes at once: like close(), but the stream is destroyed (with `err`, if given). */
  destroy(err?: Error): void {
    this.shutdown(err, true, false);
  }

  /** @internal Cancels a pending request: rejects it and tells the remote. */
  _cancel(request: PendingRequest, err: Error): void {
    if (this.pending.get(request.id) !== request) return;
    this.settle(request);
    request.reject(err);
    if (this.state === 'open') this.notify(CANCEL_METHOD, { id: request.id });
  }

  // ---------------------------------------------------------------- outgoing

  private nextId(): number {
    // Ids stay within int32 (compact in msgpack, exact everywhere). After a wrap-around, an
    // id still pending (a request 2^31 calls old) is skipped.
    if (this.lastId < 0x7fffffff && !this.wrapped) return ++this.lastId;
    this.wrapped = true;
    do {
      this.lastId = this.lastId >= 0x7fffffff ? 1 : this.lastId + 1;
    } while (this.pending.has(this.lastId));
    return this.lastId;
  }

  /**
   * Encodes one message as a frame of the FrameWriter, which sends the frames of a tick
   * together at its end. @throws MessageTooLargeError, CodecError (nothing is sent).
   */
  private send(message: unknown): void {
    const writer = this.writer;
    const codec = this.codec;
    writer.beginFrame();
    try {
      if (codec.encodeInto !== undefined) codec.encodeInto(message, writer);
      else {
        const body = codec.encode(message);
        writer.ensure(body.byteLength);
        writer.buf.set(body, writer.pos);
        writer.pos += body.byteLength;
      }
      writer.endFrame();
    } catch (err) {
      writer.abortFrame();
      throw err;
    }
  }

  private watch(signal: AbortSignal, request: PendingRequest): void {
    let watch = this.signals.get(signal);
    if (watch === undefined) {
      watch = new SignalWatch(this, signal);
      this.signals.set(signal, watch);
      signal.addEventListener('abort', watch);
    }
    watch.requests.add(request);
    request.signal = watch;
  }

  /** Forgets a pending request: map entry, timer, signal listener. */
  private settle(request: PendingRequest): void {
    this.pending.delete(request.id);
    if (request.timer !== undefined) clearTimeout(request.timer);
    const watch = request.signal;
    if (watch !== undefined) {
      watch.requests.delete(request);
      if (watch.requests.size === 0) {
        watch.signal.removeEventListener('abort', watch);
        this.signals.delete(watch.signal);
      }
    }
  }

  /** Sends one response (or collects it into its batch). */
  private reply(response: JsonRpcResponse, batch: BatchReply | undefined): void {
    if (batch !== undefined) {
      batch.responses.push(response);
      if (--batch.outstanding === 0) this.sendBatch(batch);
      return;
    }
    if (this.state !== 'open') return;
    try {
      this.send(response);
    } catch (err) {
      this.send(this.encodingFailure(response, err));
    }
  }

  private sendBatch(batch: BatchReply): void {
    const responses = batch.responses;
    // All notifications (or only responses): nothing to send (spec, section 6).
    if (responses.length === 0 || this.state !== 'open') return;
    try {
      this.send(responses);
    } catch {
      // Find the responses that cannot be encoded and replace them with errors.
      const fixed = responses.map((r) => {
        try {
          this.codec.encode(r);
          return r;
        } catch (err) {
          return this.encodingFailure(r, err);
        }
      });
      try {
        this.send(fixed);
      } catch (err) {
        // Each fits, all together do not: every result becomes a MessageTooLarge error.
        this.send(fixed.map((r) => this.encodingFailure(r, err)));
      }
    }
  }

  /** The error response that replaces a response the codec could not encode or that is too large. */
  private encodingFailure(response: JsonRpcResponse, err: unknown): JsonRpcErrorResponse {
    const id = response.id;
    this.debug('cannot send the response to %o: %s', id, (err as Error).message);
    if (err instanceof MessageTooLargeError) {
      return errorResponse(id, ErrorCodes.MessageTooLarge, err.message, {
        size: err.size,
        limit: err.limit,
      });
    }
    return errorResponse(
      id,
      ErrorCodes.InternalError,
      `the response could not be encoded: ${(err as Error).message}`,
    );
  }

  private replyError(
    id: JsonRpcId | null,
    method: string,
    err: unknown,
    batch: BatchReply | undefined,
  ): void {
    let error: ErrorObject;
    try {
      error = this.toErrorObject(err);
    } catch {
      // A thrown object whose members throw when read.
      error = { code: ErrorCodes.ApplicationError, message: 'the handler failed' };
    }
    this.debug('handler "%s" failed: %d %s', method, error.code, error.message);
    this.reply({ jsonrpc: JSONRPC_VERSION, id, error }, batch);
  }

  /** The wire error for what a handler threw (see ErrorCodes.ApplicationError). */
  private toErrorObject(err: unknown): ErrorObject {
    if (err instanceof RpcError) return err.toErrorObject();
    const data: Record<string, unknown> = {};
    let message: string;
    if (err instanceof Error) {
      message = err.message;
      data.name = err.name;
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' || typeof code === 'number') data.code = code;
      const extra = (err as { data?: unknown }).data;
      if (extra !== undefined) data.data = extra;
      if (this.exposeStack && typeof err.stack === 'string') data.stack = err.stack;
    } else {
      message = describe(err);
      data.name = typeof err;
    }
    return { code: ErrorCodes.ApplicationError, message, data };
  }

  // ---------------------------------------------------------------- incoming

  private receiveChunk(chunk: unknown): void {
    if (this.state !== 'open') return;
    let bytes: Buffer;
    if (Buffer.isBuffer(chunk)) bytes = chunk;
    else if (chunk instanceof Uint8Array) {
      bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    } else {
      this.shutdown(
        new ProtocolError('the stream must carry bytes, not strings or objects'),
        true,
        true,
      );
      return;
    }
    try {
      this.decoder.push(bytes);
    } catch (err) {
      if (err instanceof MessageTooLargeError) {
        this.debug('%s', err.message);
        // Tell the remote why before closing; it has no id to answer, so the id is null.
        this.reply(
          errorResponse(null, ErrorCodes.MessageTooLarge, err.message, {
            size: err.size,
            limit: err.limit,
          }),
          undefined,
        );
        this.shutdown(err, false, true);
      } else if (err instanceof ReceiveBudgetExceededError) {
        this.debug('%s', err.message);
        // This stream holds no more: say why, then reset it (the remote may not stop sending).
        this.reply(
          errorResponse(null, ErrorCodes.MessageTooLarge, err.message, {
            size: err.size,
            limit: err.limit,
          }),
          undefined,
        );
        this.writer.flush();
        this.shutdown(err, true, true);
      } else {
        // A bug of ours; close rather than take the process down.
        this.shutdown(err as Error, true, true);
      }
    }
  }

  private receiveFrame(bytes: Buffer, start: number, end: number): void {
    let message: unknown;
    try {
      message = this.codec.decode(bytes, start, end);
    } catch (err) {
      this.debug('parse error: %s', (err as Error).message);
      this.reply(errorResponse(null, ErrorCodes.ParseError, 'Parse error'), undefined);
      return;
    }
    if (Array.isArray(message)) this.receiveBatch(message);
    else this.receiveMessage(message, undefined);
  }

  private receiveBatch(messages: unknown[]): void {
    if (messages.length === 0) {
      this.reply(errorResponse(null, ErrorCodes.InvalidRequest, 'Invalid Request'), undefined);
      return;
    }
    const batch = new BatchReply();
    for (let i = 0; i < messages.length && this.state === 'open'; i++) {
      this.receiveMessage(messages[i], batch);
    }
    if (--batch.outstanding === 0) this.sendBatch(batch);
  }

  private receiveMessage(message: unknown, batch: BatchReply | undefined): void {
    const kind = classify(message);
    const m = message as Record<string, any>;
    switch (kind) {
      case MessageKind.Response:
        this.receiveResponse(m.id, m.result, m.error ?? undefined);
        return;
      case MessageKind.Request:
        if (batch !== undefined) batch.outstanding++;
        this.receiveRequest(m.id, m.method, m.params ?? undefined, batch);
        return;
      case MessageKind.Notification:
        this.receiveNotification(m.method, m.params ?? undefined);
        return;
      case MessageKind.InvalidResponse:
        this.receiveInvalidResponse(message);
        return;
      default:
        this.debug('invalid request: %o', message);
        if (batch !== undefined) batch.outstanding++;
        this.reply(
          errorResponse(idOfInvalid(message), ErrorCodes.InvalidRequest, 'Invalid Request'),
          batch,
        );
    }
  }

  private receiveResponse(id: JsonRpcId | null, result: unknown, error: unknown): void {
    const request = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (request === undefined) {
      if (id === null && error !== undefined) {
        const e = error as ErrorObject;
        this.remoteError = new RpcError(e.code, e.message, e.data);
        this.debug('the remote reported: %d %s', e.code, e.message);
      } else if (log.enabled) {
        this.debug('ignored a response for unknown id %o', id);
      }
      return;
    }
    this.settle(request);
    if (error === undefined) {
      request.resolve(result);
    } else {
      const e = error as ErrorObject;
      request.reject(new RpcError(e.code, e.message, e.data));
    }
  }

  private receiveInvalidResponse(message: unknown): void {
    const id = (message as { id?: unknown }).id;
    const request = typeof id === 'number' ? this.pending.get(id) : undefined;
    this.debug('invalid response: %o', message);
    if (request === undefined) return;
    // Its caller would otherwise wait forever (or until its timeout).
    this.settle(request);
    request.reject(
      new ProtocolError(`the response to "${request.method}" is not a valid JSON-RPC response`),
    );
  }

  private receiveRequest(
    id: JsonRpcId | null,
    method: string,
    params: unknown,
    batch: BatchReply | undefined,
  ): void {
    if (method === CANCEL_METHOD) {
      this.receiveCancel(params);
      this.reply({ jsonrpc: JSONRPC_VERSION, id, result: null }, batch);
      return;
    }
    const ctx = new IncomingContext(this, id, method);
    let result: unknown;
    let thenable: boolean;
    try {
      result = this.invoke(method, params, ctx);
      // Inside the try: a `then` getter is user code too.
      thenable = isThenable(result);
    } catch (err) {
      this.replyError(id, method, err, batch);
      return;
    }
    if (result === METHOD_NOT_FOUND) {
      this.reply(
        errorResponse(id, ErrorCodes.MethodNotFound, 'Method not found', { method }),
        batch,
      );
    } else if (thenable) {
      // By id, to be cancelled; a null id or a duplicate of one in flight cannot be.
      if (id !== null && !this.incoming.has(id)) this.incoming.set(id, ctx);
      else this.untracked.add(ctx);
      void this.awaitResult(ctx, result as PromiseLike<unknown>, batch);
    } else {
      this.reply({ jsonrpc: JSONRPC_VERSION, id, result: result ?? null }, batch);
    }
  }

  private async awaitResult(
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
    if (id !== null && this.incoming.get(id) === ctx) this.incoming.delete(id);
    else this.untracked.delete(ctx);
    if (ctx.cancelled) {
      // The caller has stopped waiting; answer as LSP servers do, without the result.
      this.reply(errorResponse(id, ErrorCodes.RequestCancelled, 'Request cancelled'), batch);
    } else if (failed) {
      this.replyError(id, ctx.method, error, batch);
    } else {
      this.reply({ jsonrpc: JSONRPC_VERSION, id, result: result ?? null }, batch);
    }
  }

  private receiveNotification(method: string, params: unknown): void {
    if (method === CANCEL_METHOD) {
      this.receiveCancel(params);
      return;
    }
    const ctx = new IncomingContext(this, undefined, method);
    try {
      const result = this.invoke(method, params, ctx);
      if (result === METHOD_NOT_FOUND) {
        this.debug('no handler for notification "%s"', method);
      } else if (isThenable(result)) {
        this.untracked.add(ctx);
        Promise.resolve(result).then(
          () => this.untracked.delete(ctx),
          (err: unknown) => {
            this.untracked.delete(ctx);
            this.debug('notification handler "%s" failed: %O', method, err);
          },
        );
      }
    } catch (err) {
      this.debug('notification handler "%s" threw: %O', method, err);
    }
  }

  private invoke(method: string, params: unknown, ctx: IncomingContext): unknown {
    const handler = this.handlers.get(method);
    if (handler !== undefined) return handler(params, ctx);
    if (this.fallback !== undefined) return this.fallback(method, params, ctx);
    return METHOD_NOT_FOUND;
  }

  private receiveCancel(params: unknown): void {
    const id = (params as { id?: unknown } | undefined)?.id;
    const ctx = isId(id) ? this.incoming.get(id) : undefined;
    if (ctx === undefined) return;
    this.incoming.delete(id as JsonRpcId);
    ctx.abort(new CancelledError(ctx.method, 'cancelled by the caller'));
  }

  // ---------------------------------------------------------------- closing

  private onStreamEnd(): void {
    if (this.state !== 'open') return;
    // A remote that ends right after an error response with a null id (e.g. our message was
    // too large for it) has told us why it closed.
    this.shutdown(
      this.decoder.atFrameBoundary
        ? this.remoteError
        : new ProtocolError(
            `the stream ended in the middle of a message (${this.decoder.bufferedBytes} bytes of it arrived)`,
          ),
      false,
      true,
    );
  }

  private onStreamClose(): void {
    if (this.state !== 'open') return;
    this.shutdown(new ConnectionClosedError('the stream closed'), false, true);
  }

  private onStreamError(err: Error): void {
    this.debug('stream error: %s', err.message);
    this.shutdown(err, true, true);
  }

  private closedError(): ConnectionClosedError {
    const cause = this.reason ?? this.remoteError;
    return new ConnectionClosedError(
      cause === undefined
        ? 'the JSON-RPC connection is closed'
        : `the JSON-RPC connection is closed: ${cause.message}`,
      { cause },
    );
  }

  /**
   * The one place the state changes. Rejects, aborts and releases everything.
   * @param lost the connection was lost rather than closed by this side (connectionLost).
   */
  private shutdown(reason: Error | undefined, destroy: boolean, lost: boolean): void {
    if (this.state !== 'open') {
      if (destroy && !this.stream.destroyed) this.stream.destroy();
      return;
    }
    this.state = 'closed';
    this.reason = reason;
    this.decoder.stop();
    this.debug('closed%s', reason === undefined ? '' : `: ${reason.message}`);
    const error = this.closedError();
    const pending = [...this.pending.values()];
    for (const request of pending) this.settle(request);
    const explain = this.connectionLost;
    if (lost && explain !== undefined) {
      const lostError = Promise.resolve(error)
        .then(explain)
        .then(
          (e) => (e instanceof Error ? e : error),
          () => error,
        );
      this.lostError = lostError;
      void lostError.then((e) => {
        for (const request of pending) request.reject(e);
      });
    } else {
      for (const request of pending) request.reject(error);
    }
    const running = [...this.incoming.values(), ...this.untracked];
    this.incoming.clear();
    this.untracked.clear();
    for (const ctx of running) ctx.abort(error);
    if (destroy) {
      this.writer.close();
      if (!this.stream.destroyed) this.stream.destroy();
    } else {
      // What was sent before the close (responses, a last error response) goes out first.
      if (!this.stream.destroyed && !this.stream.writableEnded) this.writer.flush();
      this.writer.close();
      if (!this.stream.writableEnded && !this.stream.destroyed) this.stream.end();
    }
    process.nextTick(() => this.emit('close', reason));
  }

  private debug(format: string, ...args: unknown[]): void {
    if (log.enabled) log(`%s ${format}`, this.name, ...args);
  }
}
