// What a thrown value becomes on the wire: the JSON-RPC error object of an error response.

import { ErrorCodes, type ErrorObject, MessageTooLargeError, RpcError } from './errors.js';
import { errorResponse, type JsonRpcErrorResponse, type JsonRpcResponse } from './messages.js';

/**
 * The wire error for what a handler threw: an RpcError as it is, anything else as
 * ApplicationError with the error's name, code and data (and stack if `exposeStack`).
 * Never throws, even for a thrown object whose members throw when read.
 */
export function toErrorObject(err: unknown, exposeStack: boolean): ErrorObject {
  try {
    return convert(err, exposeStack);
  } catch {
    return { code: ErrorCodes.ApplicationError, message: 'the handler failed' };
  }
}

function convert(err: unknown, exposeStack: boolean): ErrorObject {
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
    if (exposeStack && typeof err.stack === 'string') data.stack = err.stack;
  } else {
    message = describe(err);
    data.name = typeof err;
  }
  return { code: ErrorCodes.ApplicationError, message, data };
}

/**
 * The error response that replaces a response the codec could not encode (InternalError)
 * or that is too large (MessageTooLarge, with the size and the limit).
 */
export function encodingFailure(response: JsonRpcResponse, err: unknown): JsonRpcErrorResponse {
  const id = response.id;
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

function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}
