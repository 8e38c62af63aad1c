import { RpcError } from '@plugwire/core';

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
    const isApp = err.code === -32000 && typeof err.data === 'object' && err.data !== null;
    this.name = 'RemoteError';
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

/** Turns RPC error responses into RemoteErrors; local errors (timeouts, exits) pass as they are. */
export function fromRemote(err: unknown): unknown {
  return err instanceof RpcError ? new RemoteError(err) : err;
}
