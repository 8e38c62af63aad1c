// JSON-RPC 2.0 message types (https://www.jsonrpc.org/specification) and the classification
// of a decoded value. Classification is the only validation a message gets, and it is done
// once, on the receive path, without allocating.

import type { ErrorObject } from './errors.js';

/** The version member every message carries. */
export const JSONRPC_VERSION = '2.0';

/** Method of the cancellation notification: params `{ id }` (the LSP convention). */
export const CANCEL_METHOD = '$/cancelRequest';

/** A request id. The spec allows null too; plugwire never sends null, but answers it. */
export type JsonRpcId = string | number;

/** `params` is a structured value: by-position (array) or by-name (object). */
export type JsonRpcParams = readonly unknown[] | { readonly [name: string]: unknown };

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  method: string;
  params?: JsonRpcParams;
}

/** A request without an `id` member: it is never answered. */
export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: JsonRpcParams;
}

export interface JsonRpcSuccessResponse {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  result: unknown;
}

export interface JsonRpcErrorResponse {
  jsonrpc: '2.0';
  /** null when the id of the request could not be determined (parse error, invalid request). */
  id: JsonRpcId | null;
  error: ErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccessResponse | JsonRpcErrorResponse;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** What a decoded value is. Numbers rather than strings: this runs for every message. */
export const MessageKind = {
  Request: 0,
  Notification: 1,
  Response: 2,
  /** Looks like a request (or is nothing recognisable): answered with Invalid Request. */
  InvalidRequest: 3,
  /** Looks like a response (has result or error) but is malformed: never answered. */
  InvalidResponse: 4,
} as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

/** Whether `id` is a valid id (string or finite number). */
export function isId(id: unknown): id is JsonRpcId {
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

/** Whether `error` is a valid error object: integer code, string message. */
export function isErrorObject(error: unknown): error is ErrorObject {
  return (
    typeof error === 'object' &&
    error !== null &&
    Number.isInteger((error as ErrorObject).code) &&
    typeof (error as ErrorObject).message === 'string'
  );
}

/**
 * Classifies one decoded message (not a batch array). Rules, from the spec:
 * - a member `method` makes it a request; it is valid when `jsonrpc` is "2.0", `method` is a
 *   string, `params` (if present) is an array or object, `id` (if present) is a string, a
 *   number or null, and it has no `result`/`error`. Without an `id` member it is a
 *   notification. `params: null` is read as no params (common in other implementations).
 * - otherwise a member `result` or `error` makes it a response; it is valid when `jsonrpc` is
 *   "2.0", `id` is a string, number or null, and it has exactly one of `result` and a valid
 *   `error` object. A null `error` or `result` next to the other counts as absent (JSON-RPC
 *   1.0 peers send `"error": null` with every result).
 * - anything else (a number, an array element that is not an object, `{"foo": "boo"}`) is an
 *   invalid request.
 */
export function classify(value: unknown): MessageKind {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return MessageKind.InvalidRequest;
  }
  const m = value as Record<string, unknown>;
  if (m.method !== undefined) {
    if (m.jsonrpc !== JSONRPC_VERSION || typeof m.method !== 'string') {
      return MessageKind.InvalidRequest;
    }
    const params = m.params;
    if (params !== undefined && params !== null && typeof params !== 'object') {
      return MessageKind.InvalidRequest;
    }
    if (m.result !== undefined || m.error !== undefined) return MessageKind.InvalidRequest;
    if (!('id' in m)) return MessageKind.Notification;
    const id = m.id;
    return id === null || isId(id) ? MessageKind.Request : MessageKind.InvalidRequest;
  }
  const hasResult = 'result' in m;
  if (!hasResult && !('error' in m)) return MessageKind.InvalidRequest;
  if (m.jsonrpc !== JSONRPC_VERSION) return MessageKind.InvalidResponse;
  const id = m.id;
  if (id !== null && !isId(id)) return MessageKind.InvalidResponse;
  const error = m.error;
  if (error === undefined || error === null) {
    return hasResult ? MessageKind.Response : MessageKind.InvalidResponse;
  }
  const result = m.result;
  if (result !== undefined && result !== null) return MessageKind.InvalidResponse;
  return isErrorObject(error) ? MessageKind.Response : MessageKind.InvalidResponse;
}

/** The id to answer an invalid request with: its own id when that is valid, else null. */
export function idOfInvalid(value: unknown): JsonRpcId | null {
  if (typeof value !== 'object' || value === null) return null;
  const id = (value as { id?: unknown }).id;
  return isId(id) ? id : null;
}

export function errorResponse(
  id: JsonRpcId | null,
  code: number,
  message: string,
  data?: unknown,
): JsonRpcErrorResponse {
  return {
    jsonrpc: JSONRPC_VERSION,
    id,
    error: data === undefined ? { code, message } : { code, message, data },
  };
}
