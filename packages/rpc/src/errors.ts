// Two families of errors. RpcError is the JSON-RPC error object itself (numeric wire code,
// message, data): what a remote handler answered, or what a local handler throws to choose
// its answer. Everything else is an RpcPeerError with a stable string `code` (the Node core /
// undici convention), so callers branch on the code rather than on message text.

/**
 * Wire error codes. -32768..-32000 is reserved by JSON-RPC 2.0: the first five are the
 * standard codes, -32000..-32099 is the "implementation-defined server error" range, where
 * plugwire puts its own conditions. These numbers are protocol: never renumber them.
 */
export const ErrorCodes = {
  /** Invalid JSON / msgpack was received: the message could not be decoded. */
  ParseError: -32700,
  /** The message is not a valid Request object. */
  InvalidRequest: -32600,
  /** No handler for the method. */
  MethodNotFound: -32601,
  /** Invalid method parameters (thrown by handlers that validate their params). */
  InvalidParams: -32602,
  /** Internal JSON-RPC error, e.g. a result that the codec cannot encode. */
  InternalError: -32603,
  /** A handler threw something that is not an RpcError (see `RpcPeerOptions.exposeStack`). */
  ApplicationError: -32000,
  /** The request was cancelled by the caller (`$/cancelRequest`) before it completed. */
  RequestCancelled: -32001,
  /** The request timed out. */
  RequestTimeout: -32002,
  /** A message (request, response) is larger than the receiver's maxMessageSize. */
  MessageTooLarge: -32003,
  /** The connection closed before the request completed. */
  ConnectionClosed: -32004,
  /** The plugin process exited (used by @plugwire/core). */
  PluginExited: -32005,
  /** No plugin with the requested name is loaded (used by @plugwire/core). */
  UnknownPlugin: -32010,
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** A JSON-RPC 2.0 error object as it travels on the wire. */
export interface ErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/**
 * The JSON-RPC error object, as an Error. A request rejects with one when the remote answered
 * with an error response; a handler throws one to choose the error response it sends.
 */
export class RpcError extends Error {
  /** The numeric JSON-RPC error code (see ErrorCodes). */
  readonly code: number;
  /** The error object's `data` member, if any. */
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }

  /** The wire form: `{ code, message }` plus `data` when it is defined. */
  toErrorObject(): ErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

/** Base class of the peer's own errors: each has a stable string `code`. */
export class RpcPeerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A request got no response within its `timeout`; the remote was sent `$/cancelRequest`. */
export class TimeoutError extends RpcPeerError {
  readonly method: string;
  readonly timeout: number;
  constructor(method: string, timeout: number) {
    super('PLUGWIRE_RPC_TIMEOUT', `request "${method}" timed out after ${timeout} ms`);
    this.method = method;
    this.timeout = timeout;
  }
}

/** A request's AbortSignal fired; the remote was sent `$/cancelRequest`. `cause` is the abort reason. */
export class CancelledError extends RpcPeerError {
  readonly method: string;
  constructor(method: string, reason?: unknown) {
    super('PLUGWIRE_RPC_CANCELLED', `request "${method}" was cancelled`, { cause: reason });
    this.method = method;
  }
}

/**
 * The connection is closed: locally (close/destroy), by the remote, or lost. Every pending
 * request rejects with it; `cause` is the reason when there is one (the stream's error, a
 * MessageTooLargeError, a ProtocolError, the remote's last error response).
 */
export class ConnectionClosedError extends RpcPeerError {
  constructor(message = 'the JSON-RPC connection is closed', options?: { cause?: unknown }) {
    super('PLUGWIRE_RPC_CONNECTION_CLOSED', message, options);
  }
}

/**
 * A message is larger than maxMessageSize. Outgoing: the call rejects and nothing is sent.
 * Incoming: detected from the 4-byte frame header, before the body is buffered; the
 * connection is closed with this error.
 */
export class MessageTooLargeError extends RpcPeerError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number, direction: 'incoming' | 'outgoing') {
    super(
      'PLUGWIRE_RPC_MESSAGE_TOO_LARGE',
      `${direction} message of ${size} bytes exceeds maxMessageSize (${limit} bytes); ` +
        'raise maxMessageSize on both ends or send the data over a byte stream',
    );
    this.size = size;
    this.limit = limit;
  }
}

/**
 * Partly received messages on the peers of one connection would hold more than their shared
 * ReceiveBudget. The peer whose bytes did not fit closes with this error (the remote gets a
 * MessageTooLarge error response first); the others carry on.
 */
export class ReceiveBudgetExceededError extends RpcPeerError {
  /** The bytes that would have been held in all. */
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(
      'PLUGWIRE_RPC_RECEIVE_BUDGET',
      `partly received messages on this connection would hold ${size} bytes, over its ` +
        `receive budget of ${limit} bytes; the stream was closed`,
    );
    this.size = size;
    this.limit = limit;
  }
}

/** The remote broke the framing or the JSON-RPC protocol in a way that has no error response. */
export class ProtocolError extends RpcPeerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLUGWIRE_RPC_PROTOCOL', message, options);
  }
}

/** A value could not be encoded by the codec, or a codec name is unknown. */
export class CodecError extends RpcPeerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLUGWIRE_RPC_CODEC', message, options);
  }
}
