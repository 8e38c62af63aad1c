/**
 * @plugwire/sdk: typed plugins for plugwire. One `definePlugin` gives the host a typed
 * client and the plugin a server for its implementation. A host or a plugin needs this
 * package only: it re-exports what they use from `@plugwire/core`.
 *
 * ```ts
 * import { definePlugin, PluginClient, PluginExitedError, serve } from '@plugwire/sdk';
 *
 * interface Greeter { greet(name: string): string }
 * export const greeter = definePlugin<Greeter>({ name: 'greeter', methods: ['greet'] });
 *
 * // plugin.js
 * await serve({ plugins: { greeter: greeter.implement({ greet: (n) => `Hello, ${n}!` }) } });
 *
 * // host.js
 * const client = new PluginClient({
 *   command: process.execPath,
 *   args: [fileURLToPath(new URL('./plugin.js', import.meta.url))],
 *   plugins: { greeter },
 * });
 * const g = await client.dispense(greeter); // Remote<Greeter>
 * try {
 *   console.log(await g.greet('world', { timeout: 1000 }));
 * } catch (err) {
 *   if (err instanceof PluginExitedError) console.error('the plugin crashed:', err.stderr);
 * } finally {
 *   await client.kill();
 * }
 * ```
 *
 * Values travel by value; functions, objects marked with `proxy()` or `retain()`, and
 * streams travel by reference (docs/guide.md §7).
 *
 * @packageDocumentation
 */

// What a host or plugin author uses from @plugwire/core, so that one dependency is enough.
export {
  BrokerError,
  BrokerTimeoutError,
  CancelledError,
  type ChecksumConfig,
  ChecksumMismatchError,
  ClientStateError,
  ConnectionClosedError,
  cleanupClients,
  connectInProcess,
  createLogger,
  type ExitStatus,
  type HandshakeConfig,
  HandshakeError,
  type InProcessConnection,
  type InProcessOptions,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogRecord,
  MessageTooLargeError,
  type Plugin,
  PluginClient,
  type PluginClientEvents,
  type PluginClientOptions,
  type PluginClientState,
  type PluginContext,
  PluginExitedError,
  type PluginInfoResponse,
  type PluginSet,
  PlugwireError,
  type ReattachConfig,
  ReattachError,
  type RequestContext,
  RpcError,
  RpcPeer,
  type ServeOptions,
  type SpawnFunction,
  StartTimeoutError,
  serve,
  TimeoutError,
  UnknownPluginError,
} from '@plugwire/core';
export type { CallOptions } from './calls.js';
export { type CallContext, callContext } from './context.js';
export {
  type DefinePluginOptions,
  definePlugin,
  type PluginDefinition,
  type Remote,
  type RemoteMethod,
} from './define.js';
export {
  InvalidMarkerError,
  MethodNotFoundError,
  ObjectStreamError,
  RemoteError,
} from './errors.js';
export { proxy, retain } from './markers.js';
