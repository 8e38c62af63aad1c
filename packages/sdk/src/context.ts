/** What an implementation method can learn about the call it is serving. */
export interface CallContext {
  /** Fires when the caller aborts, times out, or the connection closes. */
  readonly signal: AbortSignal;
  /** The method name. */
  readonly method: string;
  /** The plugin name it was dispensed as. */
  readonly plugin: string;
}

// The context of the call whose implementation is running synchronously right now. Set
// just around the synchronous part of the invocation: no AsyncLocalStorage, whose promise
// hooks would slow every await in the plugin process on Node 20.
let current: CallContext | undefined;

/**
 * The context of the call being served. Call it at the start of an implementation method,
 * before its first `await`:
 *
 * ```ts
 * async search(query: string) {
 *   const { signal } = callContext();
 *   return fetchResults(query, { signal });
 * }
 * ```
 * @throws Error when no call is being served synchronously.
 */
export function callContext(): CallContext {
  if (!current) {
    throw new Error(
      'callContext() must be called synchronously at the start of a plugin method, before any await',
    );
  }
  return current;
}

/** Runs `fn` with `ctx` as the current call context. @internal */
export function withCallContext<R>(ctx: CallContext, fn: () => R): R {
  const previous = current;
  current = ctx;
  try {
    return fn();
  } finally {
    current = previous;
  }
}
