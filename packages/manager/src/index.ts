// @plugwire/manager: the management layer over @plugwire/core and @plugwire/sdk — manifests,
// plugin directories and sources, states and the supervisor, hot upgrade, watch mode, metrics.
// The `plugwire` command (src/cli) is built on the same exports.

export type { Activation, ActivationMode } from './activation.js';
export { BUNDLE_MTIME, type PackedBundle, packBundle } from './bundle.js';
export { defaultCacheDir } from './cache.js';
export { managerDefaults } from './config.js';
export {
  CONFIG_FILES,
  findConfig,
  type HostConfig,
  readConfig,
  validateConfig,
} from './config-file.js';
export {
  ArchiveError,
  ConfigError,
  EntryOutsideError,
  IntegrityError,
  ManifestError,
  PluginConfigError,
  PluginNotFoundError,
  PluginUnavailableError,
  SourceError,
  SourceRefusedError,
  UpgradeError,
  VersionMismatchError,
} from './errors.js';
export { GIT_PROTOCOLS } from './git.js';
export { CONTROL_HOST_ENV, CONTROL_TOKEN_ENV, controlSocketPath } from './host.js';
export type { PluginInfo, PluginSettings } from './managed-plugin.js';
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
  MAX_MANIFEST_BYTES,
  type Maintainer,
  type Manifest,
  parseManifest,
  readManifest,
  validateManifest,
} from './manifest.js';
export {
  LATENCY_BUCKETS,
  MAX_METHOD_LABELS,
  OTHER_METHOD_LABEL,
  type PluginMetrics,
} from './metrics.js';
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
  parseSourceString,
  type SourceKind,
  type SourceSpec,
} from './sources.js';
export { PLUGIN_STATES, type PluginState } from './state.js';
export { CrashHistory, type SupervisorOptions, supervisorDefaults } from './supervisor.js';
