// @plugwire/sdk: typed plugin definitions on top of @plugwire/core. A plugin author needs
// definePlugin, serve (re-exported) and, for tests, connectInProcess.

export {
  connectInProcess,
  type InProcessConnection,
  type InProcessOptions,
  PluginClient,
  type PluginClientOptions,
  type ServeOptions,
  serve,
} from '@plugwire/core';
export { type CallContext, callContext } from './context.js';
export {
  type DefinePluginOptions,
  definePlugin,
  type PluginDefinition,
  type Remote,
  type RemoteMethod,
} from './define.js';
export { RemoteError } from './errors.js';
export { type CallOptions, retain } from './marshal.js';
