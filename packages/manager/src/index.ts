// @plugwire/manager: the management layer over @plugwire/core and @plugwire/sdk — manifests,
// plugin directories and sources, states and the supervisor, hot upgrade, watch mode, metrics.
// The `plugwire` command (src/cli) is built on the same exports.

export type { Activation, ActivationMode } from './activation.js';
export { defaultCacheDir } from './cache.js';
export { CONFIG_FILES, findConfig, type HostConfig, readConfig, validateConfig } from './config.js';
export {
  ConfigError,
  IntegrityError,
  ManifestError,
  PluginConfigError,
  PluginNotFoundError,
  PluginUnavailableError,
  SourceError,
  UpgradeError,
  VersionMismatchError,
} from './errors.js';
export { CONTROL_HOST_ENV, CONTROL_TOKEN_ENV, controlSocketPath } from './host.js';
export type { PluginInfo, PluginSettings } from './managed.js';
export {
  type DispenseOptions,
  type Inspection,
  type LoadFailure,
  type LoadResult,
  type ManagerEvents,
  type ManagerOptions,
  PluginManager,
  parseRef,
  type StateChange,
  type WatchEvent,
} from './manager.js';
export {
  type Entry,
  MANIFEST_FILE,
  type Maintainer,
  type Manifest,
  parseManifest,
  readManifest,
  validateManifest,
} from './manifest.js';
export { LATENCY_BUCKETS, type PluginMetrics } from './metrics.js';
export {
  findRouteConflict,
  ROUTE_METHODS,
  type Route,
  RouteConflictError,
  type RouteMethod,
  type RouteSet,
} from './routes.js';
export {
  type Origin,
  type PackedBundle,
  packBundle,
  parseSourceString,
  type SourceKind,
  type SourceSpec,
} from './sources.js';
export { PLUGIN_STATES, type PluginState } from './state.js';
export { CrashHistory, type SupervisorOptions, supervisorDefaults } from './supervisor.js';
