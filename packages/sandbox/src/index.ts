// @plugwire/sandbox: limits and permissions for one plugin, applied at spawn. Give
// PluginClient `sandbox.clientOptions()`; core needs nothing else.
export { type Controller, detectCgroups, PluginCgroup } from './cgroup.js';
export { DEFAULT_PLUGIN_ENV, type EnvPolicy, envOptions } from './env.js';
export { SandboxError, type SandboxLimit, SandboxUnavailableError } from './errors.js';
export { isNode, permissionFlag } from './node.js';
export {
  defaults,
  MIN_MEMORY,
  type SandboxEvent,
  type SandboxFiles,
  type SandboxOptions,
} from './options.js';
export {
  CGROUP_JOIN_FAILED,
  createSandbox,
  describeSandbox,
  Sandbox,
  type SandboxClientOptions,
  type SandboxInfo,
  type SandboxTarget,
} from './sandbox.js';
