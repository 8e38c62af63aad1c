// The JSON-RPC 2.0 peer: both ends call and serve on one Duplex. This file holds the peer's
// public API, the framing of its stream and its closing; the requests waiting for a
// response live in pending.ts, the dispatch of incoming messages in dispatch.ts, and a
// thrown value becomes a wire error in wire-error.ts.
//
// Hot-path rule (docs/rpc.md, "Performance"): the messages of one tick reach the stream in
// one write (the FrameWriter's buffer holds header and body).

import { EventEmitter } from 'node:events';
import { type Duplex, finished } from 'node:stream';
import createDebug from 'debug';
import type { Codec } from './codec.js';
import { type ResolvedRpcPeerOptions, type RpcPeerOptions, resolveOptions } from './config.js';
import { Dispatcher, type FallbackHandler, type Handler } from './dispatch.js';
import {
  CancelledError,
  ConnectionClosedError,
  ErrorCodes,
  type ErrorObject,
  MessageTooLargeError,
  ProtocolError,
  ReceiveBudgetExceededError,
  RpcError,
} from './errors.js';
import { FrameDecoder, FrameWriter } from './framing.js';
import { CANCEL_METHOD, errorResponse, JSONRPC_VERSION, type JsonRpcId } from './messages.js';
import { PendingRequests } from './pending.js';

export type { FallbackHandler, Handler, RequestContext } from './dispatch.js';

const log = createDebug('plugwire:rpc');

/** Per-call options of `request()`. */
export interface RequestOptions {
  /** Aborting it cancels the request: `$/cancelRequest` is sent, the call rejects with CancelledError. */
  signal?: AbortSignal;
  /** Milliseconds to wait for the response; then the call rejects with TimeoutError and is cancelled remotely. */
  timeout?: number;
}

type State = 'open' | 'closed';

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
  private readonly pending: PendingRequests;
  private readonly dispatcher: Dispatcher;
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
    this.pending = new PendingRequests((id) => {
      if (this.state === 'open') this.notify(CANCEL_METHOD, { id });
    });
    this.dispatcher = new Dispatcher({
      peer: this,
      codec: this.codec,
      exposeStack: this.exposeStack,
      isOpen: () => this.state === 'open',
      send: (message) => this.send(message),
      receiveResponse: (id, result, error) => this.receiveResponse(id, result, error),
      receiveInvalidResponse: (message) => this.receiveInvalidResponse(message),
      debug: (format, ...args) => this.debug(format, ...args),
    });
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
    return this.dispatcher.handle(method, handler as Handler);
  }

  /**
   * Registers the handler of every method without a handler of its own. It may throw
   * `new RpcError(ErrorCodes.MethodNotFound, …)` for methods it does not know either.
   * @returns a function that unregisters it.
   */
  handleFallback(handler: FallbackHandler): () => void {
    return this.dispatcher.handleFallback(handler);
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
    const id = this.pending.nextId();
    try {
      this.send(
        params === undefined
          ? { jsonrpc: JSONRPC_VERSION, id, method }
          : { jsonrpc: JSONRPC_VERSION, id, method, params },
      );
    } catch (err) {
      return Promise.reject(err);
    }
    // The frame leaves at the end of the tick (FrameWriter), after this registration.
    return this.pending.add<R>(id, method, timeout, signal);
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

  // ---------------------------------------------------------------- outgoing

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
        this.dispatcher.reply(
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
        this.dispatcher.reply(
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
      this.dispatcher.reply(errorResponse(null, ErrorCodes.ParseError, 'Parse error'), undefined);
      return;
    }
    this.dispatcher.receive(message);
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
    this.pending.settle(request);
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
    this.pending.settle(request);
    request.reject(
      new ProtocolError(`the response to "${request.method}" is not a valid JSON-RPC response`),
    );
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
    const pending = this.pending.settleAll();
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
    this.dispatcher.abortAll(error);
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
