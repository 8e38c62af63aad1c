import { ErrorCodes, PlugwireError, RpcError } from '@plugwire/core';

/**
 * An error thrown by the other side's implementation, rebuilt on this side: the remote
 * message, its `code` (the thrown error's own code such as `'ENOENT'`, else the JSON-RPC
 * code), its `data`, and the remote stack when the plugin exposes stacks.
 */
export class RemoteError extends Error {
  /** The remote error's own `code`, or the JSON-RPC error code. */
  readonly code: string | number;
  /** The JSON-RPC error code of the response (-32000 for a thrown application error). */
  readonly rpcCode: number;
  /** The `data` property of the remote error. */
  readonly data: unknown;
  /** The `name` of the remote error (`TypeError`, `NotFoundError`…). */
  readonly remoteName: string | undefined;
  /** The remote stack, when the other side sends stacks (`exposeStack`). */
  readonly remoteStack: string | undefined;

  constructor(err: RpcError) {
    super(err.message, { cause: err });
    const d = (err.data ?? {}) as {
      name?: unknown;
      code?: unknown;
      data?: unknown;
      stack?: unknown;
    };
    const isApp =
      err.code === ErrorCodes.ApplicationError && typeof err.data === 'object' && err.data !== null;
    this.name = new.target.name;
    this.rpcCode = err.code;
    this.code =
      isApp && (typeof d.code === 'string' || typeof d.code === 'number') ? d.code : err.code;
    this.data = isApp ? d.data : err.data;
    this.remoteName = isApp && typeof d.name === 'string' ? d.name : undefined;
    this.remoteStack = isApp && typeof d.stack === 'string' ? d.stack : undefined;
    if (this.remoteStack)
      this.stack = `${this.stack}\n    --- remote stack ---\n${this.remoteStack}`;
  }
}

/**
 * The other side has no method of that name (JSON-RPC -32601): the plugin is older or
 * newer than the host's definition, or the name is misspelt. Still a RemoteError.
 */
export class MethodNotFoundError extends RemoteError {
  declare readonly code: 'PLUGWIRE_METHOD_NOT_FOUND';
  /** The method that was called. */
  readonly method: string;
  /** The plugin it was called on (its dispense name). */
  readonly plugin: string;

  constructor(err: RpcError, method: string, plugin: string) {
    super(err);
    (this as { code: string }).code = 'PLUGWIRE_METHOD_NOT_FOUND';
    this.method = method;
    this.plugin = plugin;
    this.message = `plugin "${plugin}" has no method "${method}" (is it an older version of the plugin?)`;
  }
}

/**
 * The other side sent a marker (`{"$plugwire": …}`, protocol.md §8) this side refuses: an
 * unknown kind, a broker id that is not a uint32, or a method list with a reserved,
 * over-long or non-string name (`then`, `constructor`, `__proto__`…) or too many names.
 * Nothing was dialled for it.
 */
export class InvalidMarkerError extends PlugwireError {
  constructor(plugin: string, problem: string) {
    super(
      'PLUGWIRE_INVALID_MARKER',
      `plugin "${plugin}": the other side sent an invalid remote value: ${problem}`,
    );
  }
}

/** The sender of an object stream broke its protocol (protocol.md §8); the stream is closed. */
export class ObjectStreamError extends PlugwireError {
  constructor(problem: string) {
    super('PLUGWIRE_OBJECT_STREAM', `object stream: ${problem}`);
  }
}

/**
 * Turns RPC error responses into RemoteErrors (MethodNotFoundError for -32601); local errors
 * (timeouts, exits) pass as they are.
 */
export function fromRemote(err: unknown, method?: string, plugin?: string): unknown {
  if (!(err instanceof RpcError)) return err;
  if (err.code === ErrorCodes.MethodNotFound && method !== undefined && plugin !== undefined) {
    return new MethodNotFoundError(err, method, plugin);
  }
  return new RemoteError(err);
}
