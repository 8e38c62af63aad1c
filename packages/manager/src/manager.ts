// The plugin manager: the facade over loading (discovery.ts picks folders and versions,
// sources.ts prepares them), each plugin's life (managed-plugin.ts), calls through handles
// (routing.ts), metrics (metrics.ts) and watch mode (watch.ts finds changes, reconcile.ts
// acts on them). Its public methods are the package's API.

import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import type { LogRecord } from '@plugwire/core';
import type { SandboxInfo } from '@plugwire/sandbox';
import createDebug from 'debug';
import semver from 'semver';
import { IdleTracker, sleeperOf } from './activation.js';
import {
  type DispenseOptions,
  type ManagerOptions,
  type ResolvedManagerOptions,
  resolveManagerOptions,
} from './config.js';
import { readConfig } from './config-file.js';
import { chooseVersion, pluginFolders, readCandidates, satisfies } from './discovery.js';
import {
  PluginConfigError,
  PluginNotFoundError,
  PluginUnavailableError,
  UpgradeError,
  VersionMismatchError,
} from './errors.js';
import {
  type ManagedContext,
  ManagedPlugin,
  type PluginInfo,
  type PluginSettings,
} from './managed-plugin.js';
import { checkConfig, type Manifest } from './manifest.js';
import { Metrics, type PluginMetrics } from './metrics.js';
import { Reconciler, type WatchEvent } from './reconcile.js';
import { findRouteConflict } from './routes.js';
import { CallRouter, type Def } from './routing.js';
import {
  describeSource,
  type PreparedPlugin,
  parseSourceString,
  prepareSource,
  type SourceContext,
  type SourceSpec,
} from './sources.js';
import type { PluginState } from './state.js';
import { DirWatcher } from './watch.js';

export type { DispenseOptions, ManagerOptions } from './config.js';
export type { WatchEvent } from './reconcile.js';

const debug = createDebug('plugwire:manager');

/** One state change of one plugin. */
export interface StateChange {
  plugin: string;
  from: PluginState;
  to: PluginState;
  info: PluginInfo;
}

export interface ManagerEvents {
  /** Every state change of every plugin. */
  state: [change: StateChange];
  loaded: [info: PluginInfo];
  unloaded: [info: PluginInfo];
  /** A plugin now runs another version (or build) than before. */
  upgraded: [event: { plugin: string; from: string; to: string; info: PluginInfo }];
  /** A log record from a plugin's stderr (or a line of its stdout). */
  log: [record: LogRecord];
  watch: [event: WatchEvent];
  /** Problems in the background (a restart that failed, a slow drain, a bad edit in watch mode). */
  warning: [error: Error];
}

/** A plugin that could not be loaded by loadAll(). */
export interface LoadFailure {
  /** The folder or source. */
  where: string;
  error: Error;
}

export interface LoadResult {
  plugins: PluginInfo[];
  errors: LoadFailure[];
}

/** inspect()'s answer. */
export interface Inspection {
  info: PluginInfo;
  manifest: Manifest;
  /** Methods per interface: as the running plugin reports them, else as the manifest declares. */
  methods: Record<string, string[] | null>;
  /** What the running process negotiated. */
  process: { pid: number; protocolVersion: number; codec: string } | undefined;
  /** The sandbox the running process is in (@plugwire/sandbox), while one runs. */
  sandbox: SandboxInfo | undefined;
}

/** Splits `kv@^2` into name and range. */
export function parseRef(ref: string): { name: string; range: string | undefined } {
  const at = ref.indexOf('@', 1);
  if (at < 0) return { name: ref, range: undefined };
  const range = ref.slice(at + 1);
  if (semver.validRange(range) === null) {
    throw new TypeError(`"${range}" in "${ref}" is not a semver range (e.g. kv@^2, kv@>=1.4 <3)`);
  }
  return { name: ref.slice(0, at), range };
}

/**
 * Manages a host's plugins: loads them from plugin directories and sources, starts and
 * stops them, restarts crashed ones, upgrades them without dropping calls, watches their
 * folders, and counts what they do.
 */
export class PluginManager extends EventEmitter<ManagerEvents> {
  readonly #o: ResolvedManagerOptions;
  readonly #plugins = new Map<string, ManagedPlugin>();
  readonly #metrics: Metrics;
  readonly #ctx: ManagedContext;
  readonly #source: SourceContext;
  readonly #router: CallRouter;
  readonly #reconciler: Reconciler;
  #watcher: DirWatcher | undefined;
  #closed = false;
  readonly #idle = new IdleTracker((err) => this.#warn(err));

  constructor(options: ManagerOptions = {}) {
    super();
    const o = resolveManagerOptions(options);
    this.#o = o;
    this.#source = { cacheDir: o.cacheDir, baseDir: o.baseDir };
    this.#metrics = new Metrics({
      plugins: () =>
        [...this.#plugins.values()].map((p) => ({ name: p.name, state: p.state, pid: p.pid })),
    });
    this.#ctx = {
      supervisor: o.supervisor,
      drainTimeout: o.drainTimeout,
      killGrace: o.killGrace,
      startTimeout: o.startTimeout,
      unixSocketDir: o.unixSocketDir,
      env: o.env,
      handshake: o.handshake,
      stateChanged: (p, from, to) => {
        debug('%s: %s → %s', p.name, from, to);
        if (to === 'running') this.#idle.arm(sleeperOf(p));
        this.emit('state', { plugin: p.name, from, to, info: this.#info(p) });
      },
      restarted: (p) => this.#metrics.restarted(p.name),
      upgraded: (p, from, to) =>
        this.emit('upgraded', {
          plugin: p.name,
          from: from.manifest.version,
          to: to.manifest.version,
          info: this.#info(p),
        }),
      log: (r) => this.emit('log', r),
      warn: (err) => this.#warn(err),
    };
    this.#router = new CallRouter({
      plugin: (name) => this.#plugins.get(name),
      names: () => [...this.#plugins.keys()],
      metrics: this.#metrics,
      options: o,
      closed: () => this.#closed,
      idle: this.#idle,
    });
    this.#reconciler = new Reconciler({
      loadedFrom: (folder) =>
        [...this.#plugins.values()].find((p) => 'path' in p.spec && p.spec.path === folder),
      load: async (folder) => (await this.load({ path: folder })).name,
      unload: async (name) => {
        await this.unload(name);
      },
      prepare: (p) => this.#prepare(p.spec, p.name, p.settings),
      checkFits: (p, next) => this.#checkFits(p.name, next, p.settings),
      report: (event) => {
        debug('watch %s: %s %s', event.folder, event.action, event.plugin ?? '');
        this.emit('watch', event);
        if (event.error) this.#warn(event.error);
      },
      closed: () => this.#closed,
    });
  }

  /** A manager configured by a plugwire.config.json or .toml file (options override it). */
  static fromConfig(file: string, overrides: ManagerOptions = {}): PluginManager {
    const c = readConfig(file);
    const fromFile: ManagerOptions = {
      dirs: c.pluginDirs,
      plugins: c.plugins,
      baseDir: resolve(file, '..'),
      supervisor: c.supervisor,
      cacheDir: c.cacheDir,
      whileRestarting: c.whileRestarting,
      waitTimeout: c.waitTimeout,
      drainTimeout: c.drainTimeout,
      killGrace: c.killGrace,
      startTimeout: c.startTimeout,
      autoStart: c.autoStart,
    };
    // Settings the file leaves out must not hide the defaults (or the overrides).
    const set = Object.fromEntries(Object.entries(fromFile).filter(([, v]) => v !== undefined));
    return new PluginManager({
      ...set,
      ...overrides,
      ...(overrides.dirs ? { dirs: [...c.pluginDirs, ...overrides.dirs] } : {}),
    });
  }

  /** The cache directory in use. */
  get cacheDir(): string {
    return this.#source.cacheDir;
  }

  /** The plugin directories this manager scans. */
  get dirs(): readonly string[] {
    return this.#o.dirs;
  }

  // ---- loading -------------------------------------------------------------------------

  /**
   * Loads every plugin of the plugin directories and every plugin with a source in the
   * settings. A plugin that fails to load does not stop the others: its error is in
   * `errors` (ManifestError names the file and field). Where several folders hold one
   * plugin name, the highest version that satisfies the settings' range wins.
   */
  async loadAll(): Promise<LoadResult> {
    this.#assertOpen();
    const errors: LoadFailure[] = [];
    const settings = this.#o.plugins;
    for (const [name, s] of Object.entries(settings)) {
      if (s.enabled === false || !s.source || this.#plugins.has(name)) continue;
      const source = typeof s.source === 'string' ? parseSourceString(s.source) : s.source;
      try {
        await this.#load(source, { name }, false);
      } catch (err) {
        errors.push({ where: describeSource(source), error: err as Error });
      }
    }
    const found = readCandidates(
      pluginFolders(this.dirs, (err) => this.#warn(err)),
      errors,
    );
    for (const [name, candidates] of found) {
      if (this.#plugins.has(name) || settings[name]?.enabled === false) continue;
      let pick: { dir: string };
      try {
        pick = chooseVersion(name, candidates, settings[name]?.version);
      } catch (err) {
        errors.push({ where: candidates[0]!.dir, error: err as Error });
        continue;
      }
      try {
        await this.#load({ path: pick.dir }, {}, false);
      } catch (err) {
        errors.push({ where: pick.dir, error: err as Error });
      }
    }
    for (const [name, s] of Object.entries(settings)) {
      if (
        s.enabled !== false &&
        !this.#plugins.has(name) &&
        !errors.some((e) => (e.error as { plugin?: string }).plugin === name) &&
        !found.has(name)
      ) {
        errors.push({
          where: name,
          error: new PluginNotFoundError(name, [...this.#plugins.keys()]),
        });
      }
    }
    if (this.#o.autoStart) {
      // All at once: one slow plugin does not hold up the others.
      const stopped = [...this.#plugins.values()].filter(
        (p) => p.state === 'stopped' && p.prepared.manifest.activation.mode !== 'lazy',
      );
      await Promise.all(stopped.map((p) => p.start().catch((err: Error) => this.#warn(err))));
    }
    return { plugins: this.list(), errors };
  }

  /**
   * Loads one plugin from a source (fetching, installing or compiling it as needed). Its
   * settings come from ManagerOptions.plugins under its manifest name, or `settings`.
   */
  async load(
    source: SourceSpec | string,
    settings: PluginSettings & { name?: string } = {},
  ): Promise<PluginInfo> {
    return this.#load(source, settings, this.#o.autoStart);
  }

  async #load(
    source: SourceSpec | string,
    settings: PluginSettings & { name?: string },
    start: boolean,
  ): Promise<PluginInfo> {
    this.#assertOpen();
    const spec = typeof source === 'string' ? parseSourceString(source) : source;
    const named = settings.name ? this.#o.plugins[settings.name] : undefined;
    const prepared = await this.#prepare(spec, settings.name, {
      ...named,
      ...withoutName(settings),
    });
    const name = prepared.manifest.name;
    if (settings.name && settings.name !== name) {
      throw new PluginConfigError(
        settings.name,
        `names source ${describeSource(spec)}, which holds plugin "${name}"`,
      );
    }
    if (this.#plugins.has(name)) {
      throw new UpgradeError(
        name,
        'a plugin of that name is already loaded: use upgrade() to replace it',
      );
    }
    this.#assertOpen(); // closed while the source was prepared
    const s: PluginSettings = { ...this.#o.plugins[name], ...withoutName(settings) };
    this.#checkFits(name, prepared, s);
    const p = new ManagedPlugin(prepared, spec, s, this.#ctx);
    this.#plugins.set(name, p);
    debug('%s %s loaded from %s', name, prepared.manifest.version, describeSource(spec));
    this.emit('loaded', this.#info(p));
    if (start && prepared.manifest.activation.mode !== 'lazy') {
      await p.start().catch((err: Error) => this.#warn(err));
    }
    return this.#info(p);
  }

  /** Prepares a source with what the plugin's settings allow. */
  #prepare(
    spec: SourceSpec,
    plugin: string | undefined,
    settings: PluginSettings,
  ): Promise<PreparedPlugin> {
    return prepareSource(spec, this.#source, { plugin, allowScripts: settings.allowScripts });
  }

  #checkFits(name: string, prepared: PreparedPlugin, s: PluginSettings): void {
    if (!satisfies(prepared.manifest.version, s.version)) {
      throw new VersionMismatchError(name, s.version!, [prepared.manifest.version]);
    }
    const problems = checkConfig(prepared.manifest, s.config ?? {});
    if (problems) throw new PluginConfigError(name, `does not fit its configSchema: ${problems}`);
    const others = [...this.#plugins.values()].map((p) => ({
      name: p.name,
      routes: p.prepared.manifest.routes,
    }));
    const conflict = findRouteConflict(name, prepared.manifest.routes, others);
    if (conflict) throw conflict;
  }

  // ---- looking -------------------------------------------------------------------------

  /** A loaded plugin by name, or `name@range` (throws when its version does not satisfy). */
  get(ref: string): PluginInfo {
    return this.#info(this.#find(ref));
  }

  /** Every loaded plugin, by name. */
  list(): PluginInfo[] {
    return [...this.#plugins.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((p) => this.#info(p));
  }

  /** The manifest a loaded plugin runs with (after an upgrade: the new one). */
  manifest(ref: string): Manifest {
    return this.#find(ref).prepared.manifest;
  }

  #find(ref: string): ManagedPlugin {
    const { name, range } = parseRef(ref);
    const p = this.#plugins.get(name);
    if (!p) throw new PluginNotFoundError(name, [...this.#plugins.keys()]);
    if (!satisfies(p.version, range)) throw new VersionMismatchError(name, range!, [p.version]);
    return p;
  }

  /** #find for operations that would start a process: refused once the manager is closed. */
  #findOpen(ref: string): ManagedPlugin {
    this.#assertOpen();
    return this.#find(ref);
  }

  #info(p: ManagedPlugin): PluginInfo {
    const info = p.info();
    info.restarts = this.#metrics.totals(p.name).restarts;
    return info;
  }

  // ---- lifecycle -----------------------------------------------------------------------

  async start(ref: string): Promise<PluginInfo> {
    const p = this.#findOpen(ref);
    this.#idle.release(p.name);
    await p.start();
    return this.#info(p);
  }

  async stop(ref: string): Promise<PluginInfo> {
    const p = this.#find(ref);
    this.#idle.hold(p.name);
    await p.stop();
    return this.#info(p);
  }

  async restart(ref: string): Promise<PluginInfo> {
    const p = this.#findOpen(ref);
    this.#idle.release(p.name);
    await p.restart();
    return this.#info(p);
  }

  /** Starts every loaded plugin; failures leave that plugin `failed` and are returned. */
  async startAll(): Promise<LoadFailure[]> {
    this.#assertOpen();
    const plugins = [...this.#plugins.values()];
    const results = await Promise.allSettled(plugins.map((p) => p.start()));
    return results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ where: plugins[i]!.name, error: r.reason as Error }] : [],
    );
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#plugins.values()].map((p) => p.stop()));
  }

  /** Stops a plugin and forgets it. */
  async unload(ref: string): Promise<PluginInfo> {
    const p = this.#find(ref);
    await p.dispose();
    // Only if it is still the one loaded under its name (a concurrent unload and load).
    if (this.#plugins.get(p.name) === p) {
      this.#plugins.delete(p.name);
      this.#metrics.remove(p.name);
      this.#idle.forget(p.name);
    }
    const info = p.info();
    this.emit('unloaded', info);
    return info;
  }

  /**
   * Hot upgrade: prepares `source` (default: the plugin's own source again, for a folder
   * whose files changed), starts it next to the running process, sends new calls to it, lets
   * calls in flight finish on the old one, then stops the old one. No call fails because of
   * the switch. On any error the old version keeps serving and UpgradeError says why. A
   * crashed or failed plugin is started on the new version (its crash history forgotten);
   * a stopped one takes it for its next start.
   */
  async upgrade(ref: string, source?: SourceSpec | string): Promise<PluginInfo> {
    const p = this.#findOpen(ref);
    const spec =
      source === undefined
        ? p.spec
        : typeof source === 'string'
          ? parseSourceString(source)
          : source;
    let next: PreparedPlugin;
    try {
      next = await this.#prepare(spec, p.name, p.settings);
      if (next.manifest.name !== p.name) {
        throw new Error(
          `${describeSource(spec)} holds plugin "${next.manifest.name}", not "${p.name}"`,
        );
      }
      this.#checkFits(p.name, next, p.settings);
    } catch (err) {
      throw err instanceof UpgradeError
        ? err
        : new UpgradeError(p.name, (err as Error).message, { cause: err });
    }
    await p.upgrade(next);
    return this.#info(p);
  }

  // ---- calls -----------------------------------------------------------------------------

  /**
   * A handle to interface `def` of plugin `ref` (`kv`, or `kv@^2` to require a version):
   * an object with the interface's methods, each routed to the plugin's current process.
   * Starts the plugin if it is stopped. Through a handle, calls are counted in the metrics,
   * fail fast (or wait) while the plugin restarts, and move to the new process during a hot
   * upgrade while calls in flight finish on the old one.
   */
  async dispense<T>(ref: string, def: Def<T>, options: DispenseOptions = {}): Promise<T> {
    const p = this.#findOpen(ref);
    return this.#router.dispense(p, parseRef(ref).range, def, options);
  }

  /**
   * Calls `method` of a plugin with positional `args`, on its only interface or the one
   * named (the raw JSON-RPC call that `plugwire call` makes). Starts the plugin if stopped.
   */
  async call(
    ref: string,
    method: string,
    args: unknown[] = [],
    options: DispenseOptions & { interface?: string } = {},
  ): Promise<unknown> {
    const p = this.#findOpen(ref);
    return this.#router.call(p, parseRef(ref).range, method, args, options);
  }

  /**
   * A plugin's manifest, state and methods. The methods come from the running process
   * (`plugwire/info`); with `start: true` a stopped plugin is started to ask it.
   */
  async inspect(ref: string, options: { start?: boolean } = {}): Promise<Inspection> {
    const p = options.start ? this.#findOpen(ref) : this.#find(ref);
    if (options.start && p.state === 'stopped') await p.start();
    const manifest = p.prepared.manifest;
    const methods: Record<string, string[] | null> = {};
    for (const [n, spec] of Object.entries(manifest.plugins)) methods[n] = spec.methods ?? null;
    let proc: Inspection['process'];
    const cur = p.current;
    if (cur) {
      const info = await cur.info();
      proc = { pid: info.pid, protocolVersion: info.protocolVersion, codec: info.codec };
      for (const [n, m] of Object.entries(info.methods ?? {})) if (m) methods[n] = m;
    }
    return { info: this.#info(p), manifest, methods, process: proc, sandbox: cur?.sandbox?.info() };
  }

  // ---- metrics ---------------------------------------------------------------------------

  /** Per-plugin metrics as JSON. */
  metrics(): Promise<Record<string, PluginMetrics>> {
    return this.#metrics.json();
  }

  /** Per-plugin metrics in Prometheus' text format. */
  prometheus(): Promise<string> {
    return this.#metrics.prometheus();
  }

  /** The prom-client registry (to merge into a host's own). */
  get registry(): Metrics['registry'] {
    return this.#metrics.registry;
  }

  // ---- watch mode ------------------------------------------------------------------------

  /**
   * Watches the plugin directories: a new plugin folder is loaded (and started with
   * `autoStart`), a removed one unloaded, a changed one upgraded in place (hot) when what
   * would run changed, and a crashed or failed one started again on its changed files.
   * Each outcome is a `watch` event.
   */
  async watch(): Promise<void> {
    this.#assertOpen();
    if (this.#watcher) return;
    this.#watcher = new DirWatcher(this.#o.watchDebounce, (folder) => {
      void this.#reconciler.schedule(folder);
    });
    await this.#watcher.add(this.dirs);
  }

  // ---- the end -----------------------------------------------------------------------------

  /**
   * Stops watching and stops every plugin (calls in flight finish first). Afterwards,
   * loads, starts, upgrades and calls are refused with PluginUnavailableError.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#watcher?.close();
    await this.#reconciler.settled();
    for (const name of this.#plugins.keys()) this.#idle.forget(name);
    await Promise.all([...this.#plugins.values()].map((p) => p.dispose()));
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new PluginUnavailableError('*', 'stopped', 'the manager is closed');
  }

  #warn(err: Error): void {
    debug('warning: %s', err.message);
    this.emit('warning', err);
  }
}

function withoutName(s: PluginSettings & { name?: string }): PluginSettings {
  const { name: _, ...rest } = s;
  return rest;
}
