// Errors of the control plane. Every answer the API gives for a failure is
// `{ "error": { "code", "message" } }` with one of these codes (or a manager's / plugin's own).

/** A request the control API refuses or could not serve, with its HTTP status. */
export class ControlError extends Error {
  readonly code: string;
  readonly statusCode: number;
  constructor(statusCode: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ControlError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** Stable codes of the control API's own errors. */
export const ControlCodes = {
  badRequest: 'PLUGWIRE_CONTROL_BAD_REQUEST',
  unauthorized: 'PLUGWIRE_CONTROL_UNAUTHORIZED',
  forbiddenHost: 'PLUGWIRE_CONTROL_FORBIDDEN_HOST',
  notFound: 'PLUGWIRE_CONTROL_NOT_FOUND',
  bodyTooLarge: 'PLUGWIRE_CONTROL_BODY_TOO_LARGE',
  unsupportedMedia: 'PLUGWIRE_CONTROL_UNSUPPORTED_MEDIA_TYPE',
  timeout: 'PLUGWIRE_CONTROL_TIMEOUT',
  tooManyClients: 'PLUGWIRE_CONTROL_TOO_MANY_CLIENTS',
  callFailed: 'PLUGWIRE_CALL_FAILED',
  noSuchMethod: 'PLUGWIRE_CONTROL_NO_SUCH_METHOD',
  routeFailed: 'PLUGWIRE_ROUTE_FAILED',
  routeBadResponse: 'PLUGWIRE_ROUTE_BAD_RESPONSE',
  hostBusy: 'PLUGWIRE_CONTROL_SOCKET_IN_USE',
  internal: 'PLUGWIRE_CONTROL_INTERNAL',
} as const;

/** HTTP statuses for the manager's error codes. */
const STATUS_BY_CODE: Record<string, number> = {
  PLUGWIRE_PLUGIN_NOT_FOUND: 404,
  PLUGWIRE_UNKNOWN_PLUGIN: 404,
  PLUGWIRE_VERSION_MISMATCH: 409,
  PLUGWIRE_PLUGIN_UNAVAILABLE: 503,
  PLUGWIRE_UPGRADE: 409,
  PLUGWIRE_PLUGIN_CONFIG: 409,
  PLUGWIRE_PLUGIN_EXITED: 502,
  // A plugin that could not be started: the fault is on the plugin's side of the gateway.
  PLUGWIRE_HANDSHAKE: 502,
  PLUGWIRE_START_TIMEOUT: 502,
};

/**
 * The HTTP status and JSON body for any error: control errors as they are; manager errors by
 * code; a plugin's thrown error (a JSON-RPC error: numeric code) as 502 with the code the
 * plugin gave it; anything else 500 without internals.
 */
export function toHttpError(err: unknown): {
  status: number;
  body: { error: Record<string, unknown> };
} {
  const e = err as { code?: unknown; message?: unknown; statusCode?: unknown; data?: unknown };
  if (err instanceof ControlError) {
    return { status: err.statusCode, body: { error: { code: err.code, message: err.message } } };
  }
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof e?.code === 'string' && e.code.startsWith('PLUGWIRE_')) {
    return {
      status: STATUS_BY_CODE[e.code] ?? 500,
      body: { error: { code: e.code, message } },
    };
  }
  if (e?.code === -32601) {
    return { status: 404, body: { error: { code: ControlCodes.noSuchMethod, message } } };
  }
  if (typeof e?.code === 'number') {
    // A JSON-RPC error from the plugin: its own code, when it threw an error with one, is
    // in data.code (the sdk's error-to-wire form).
    const d = (e.data ?? {}) as { code?: unknown };
    const own = typeof d.code === 'string' || typeof d.code === 'number' ? d.code : undefined;
    return {
      status: 502,
      body: {
        error: {
          code: ControlCodes.callFailed,
          message,
          rpcCode: e.code,
          ...(own !== undefined ? { pluginCode: own } : {}),
        },
      },
    };
  }
  if (e instanceof TypeError) {
    // The manager throws TypeErrors for wrong arguments (no such method, several interfaces).
    return { status: 400, body: { error: { code: ControlCodes.badRequest, message } } };
  }
  return { status: 500, body: { error: { code: ControlCodes.internal, message } } };
}
