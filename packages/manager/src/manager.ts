// The plugin manager: plugins from directories and sources, their states and processes,
// calls routed through handles (metrics, fail-fast while restarting, hot upgrade), watch mode.
import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type HandshakeConfig,
  type LogRecord,
  type Plugin,
  type RpcPeer,
  UnknownPluginError,
} from '@plugwire/core';
import createDebug from 'debug';
import semver from 'semver';
import { IdleTracker, type Sleeper } from './activation.js';
import { defaultCacheDir } from './cache.js';
import { readConfig } from './config.js';
import {
  PluginConfigError,
  PluginNotFoundError,
  PluginUnavailableError,
  UpgradeError,
  VersionMismatchError,
} from './errors.js';
import type { Instance } from './instance.js';
import {
  type ManagedContext,
  ManagedPlugin,
  type PluginInfo,
  type PluginSettings,
} from './managed.js';
import { checkConfig, MANIFEST_FILE, type Manifest, readManifest } from './manifest.js';
import { Metrics, type PluginMetrics } from './metrics.js';
import { findRouteConflict } from './routes.js';
import {
  describeSource,
  type PreparedPlugin,
  parseSourceString,
  prepareSource,
  type SourceContext,
  type SourceSpec,
} from './sources.js';
import type { PluginState } from './state.js';
import type { SupervisorOptions } from './supervisor.js';
import { DirWatcher } from './watch.js';

const debug = createDebug('plugwire:manager');

/** Options of a PluginManager. Everything is optional. */
export interface ManagerOptions {
  /**
   * Plugin directories: each sub-folder with a plugin.json is a plugin (a directory that has
   * a plugin.json itself is one plugin).
   */
  dirs?: readonly string[];
  /** Plugins by name: sources to load them from, version ranges, config, env. */
  plugins?: Record<string, PluginSettings>;
  /** Where compiled, installed, cloned and unpacked plugins go. @default defaultCacheDir() */
  cacheDir?: string;
  /** Folder relative sources are resolved against. @default process.cwd() */
  baseDir?: string;
  /** Restart policy for crashed plugins. */
  supervisor?: SupervisorOptions;
  /**
   * Calls made while a crashed plugin restarts: `fail` rejects them at once with
   * PluginUnavailableError; `wait` holds them until it runs again (up to `waitTimeout`).
   * @default 'fail'
   */
  whileRestarting?: 'fail' | 'wait';
  /** Longest wait of a call under `whileRestarting: 'wait'`. @default 30_000 (ms) */
  waitTimeout?: number;
  /** How long stop() and upgrade() let calls in flight finish before stopping a process. @default 30_000 (ms) */
  drainTimeout?: number;
  /** Grace period between asking a plugin to quit and SIGKILL. @default 2_000 (ms) */
  killGrace?: number;
  /** Longest start (handshake, connect, init). @default 60_000 (ms) */
  startTimeout?: number;
  /** Start plugins as they are loaded (loadAll(), watch mode). @default false */
  autoStart?: boolean;
  /** Quiet time after the last change in a plugin folder before watch mode acts. @default 150 (ms) */
  watchDebounce?: number;
  /** Extra environment for every plugin process. */
  env?: Record<string, string>;
  /** Where plugin processes create their socket directories. @default os.tmpdir() */
  unixSocketDir?: string;
  /** Cookie and base protocol version; must match the plugins'. @default plugwire's */
  handshake?: HandshakeConfig;
}

/** One state change of one plugin. */
export interface StateChange {
  plugin: string;
  from: PluginState;
  to: PluginState;
  info: PluginInfo;
}

/** What watch mode did about a change in a plugin folder. */
export interface WatchEvent {
  folder: string;
  action: 'loaded' | 'unloaded' | 'upgraded' | 'unchanged' | 'error';
  plugin: string | undefined;
  error?: Error;
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

export interface DispenseOptions {
  /** Overrides ManagerOptions.whileRestarting for this handle. */
  whileRestarting?: 'fail' | 'wait';
  /** Overrides ManagerOptions.waitTimeout for this handle. */
  waitTimeout?: number;
}

/** inspect()'s answer. */
export interface Inspection {
  info: PluginInfo;
  manifest: Manifest;
  /** Methods per interface: as the running plugin reports them, else as the manifest declares. */
  methods: Record<string, string[] | null>;
  /** What the running process negotiated. */
  process: { pid: number; protocolVersion: number; codec: string } | undefined;
}

type Def<T> = Plugin<T> & {
  readonly name: string;
  readonly methods?: readonly string[] | undefined;
};

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
  readonly #o: ManagerOptions;
  readonly #plugins = new Map<string, ManagedPlugin>();
  readonly #metrics: Metrics;
  readonly #ctx: ManagedContext;
  readonly #source: SourceContext;
  readonly #rawDefs = new Map<string, Def<RpcPeer>>();
  #watcher: DirWatcher | undefined;
  #closed = false;
  readonly #idle = new IdleTracker((err) => this.#warn(err));

  constructor(options: ManagerOptions = {}) {
    super();
    this.#o = options;
    this.#source = {
      cacheDir: resolve(options.cacheDir ?? defaultCacheDir()),
      baseDir: resolve(options.baseDir ?? process.cwd()),
    };
    this.#metrics = new Metrics({
      plugins: () =>
        [...this.#plugins.values()].map((p) => ({ name: p.name, state: p.state, pid: p.pid })),
    });
    this.#ctx = {
      supervisor: options.supervisor ?? {},
      drainTimeout: options.drainTimeout ?? 30_000,
      killGrace: options.killGrace,
      startTimeout: options.startTimeout,
      unixSocketDir: options.unixSocketDir,
      env: options.env,
      handshake: options.handshake,
      stateChanged: (p, from, to) => {
        debug('%s: %s → %s', p.name, from, to);
        if (to === 'running') this.#idle.arm(sleeper(p));
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
    return (this.#o.dirs ?? []).map((d) => resolve(this.#source.baseDir, d));
  }

  // ---- loading -------------------------------------------------------------------------

  /**
   * Loads every plugin of the plugin directories and every plugin with a source in the
   * settings. A plugin that fails to load does not stop the others: its error is in
   * `errors` (ManifestError names the file and field). Where several folders hold one
   * plugin name, the highest version that satisfies the settings' range wins.
   */
  async loadAll(): Promise<LoadResult> {
    const errors: LoadFailure[] = [];
    const settings = this.#o.plugins ?? {};
    for (const [name, s] of Object.entries(settings)) {
      if (s.enabled === false || !s.source || this.#plugins.has(name)) continue;
      const source = typeof s.source === 'string' ? parseSourceString(s.source) : s.source;
      try {
        await this.#load(source, { name }, false);
      } catch (err) {
        errors.push({ where: describeSource(source), error: err as Error });
      }
    }
    const found = new Map<string, Array<{ dir: string; manifest: Manifest }>>();
    for (const folder of this.#pluginFolders()) {
      try {
        const manifest = readManifest(folder);
        const list = found.get(manifest.name) ?? [];
        list.push({ dir: folder, manifest });
        found.set(manifest.name, list);
      } catch (err) {
        errors.push({ where: folder, error: err as Error });
      }
    }
    for (const [name, candidates] of found) {
      if (this.#plugins.has(name) || settings[name]?.enabled === false) continue;
      const range = settings[name]?.version;
      const versions = candidates.map((c) => c.manifest.version);
      const best = semver.maxSatisfying(versions, range ?? '*', { includePrerelease: true });
      if (!best) {
        errors.push({
          where: candidates[0]!.dir,
          error: new VersionMismatchError(name, range ?? '*', versions),
        });
        continue;
      }
      const pick = candidates.find((c) => c.manifest.version === best)!;
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
    return this.#load(source, settings, this.#o.autoStart === true);
  }

  async #load(
    source: SourceSpec | string,
    settings: PluginSettings & { name?: string },
    start: boolean,
  ): Promise<PluginInfo> {
    this.#assertOpen();
    const spec = typeof source === 'string' ? parseSourceString(source) : source;
    const prepared = await prepareSource(spec, this.#source);
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
    const s: PluginSettings = { ...this.#o.plugins?.[name], ...withoutName(settings) };
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

  #checkFits(name: string, prepared: PreparedPlugin, s: PluginSettings): void {
    if (
      s.version &&
      !semver.satisfies(prepared.manifest.version, s.version, { includePrerelease: true })
    ) {
      throw new VersionMismatchError(name, s.version, [prepared.manifest.version]);
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

  #pluginFolders(): string[] {
    const out: string[] = [];
    for (const dir of this.dirs) {
      if (existsSync(join(dir, MANIFEST_FILE))) {
        out.push(dir);
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir).sort();
      } catch (err) {
        this.#warn(new Error(`plugin directory ${dir} cannot be read: ${(err as Error).message}`));
        continue;
      }
      for (const n of names) {
        if (n.startsWith('.') || n === 'node_modules') continue;
        const p = join(dir, n);
        try {
          if (statSync(p).isDirectory()) out.push(p);
        } catch {
          // vanished meanwhile
        }
      }
    }
    return out;
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
    if (range && !semver.satisfies(p.version, range, { includePrerelease: true })) {
      throw new VersionMismatchError(name, range, [p.version]);
    }
    return p;
  }

  #info(p: ManagedPlugin): PluginInfo {
    const info = p.info();
    info.restarts = this.#metrics.totals(p.name).restarts;
    return info;
  }

  // ---- lifecycle -----------------------------------------------------------------------

  async start(ref: string): Promise<PluginInfo> {
    const p = this.#find(ref);
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
    const p = this.#find(ref);
    this.#idle.release(p.name);
    await p.restart();
    return this.#info(p);
  }

  /** Starts every loaded plugin; failures leave that plugin `failed` and are returned. */
  async startAll(): Promise<LoadFailure[]> {
    const results = await Promise.allSettled([...this.#plugins.values()].map((p) => p.start()));
    return results.flatMap((r, i) =>
      r.status === 'rejected'
        ? [{ where: [...this.#plugins.keys()][i]!, error: r.reason as Error }]
        : [],
    );
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#plugins.values()].map((p) => p.stop()));
  }

  /** Stops a plugin and forgets it. */
  async unload(ref: string): Promise<PluginInfo> {
    const p = this.#find(ref);
    await p.dispose();
    this.#plugins.delete(p.name);
    this.#metrics.remove(p.name);
    this.#idle.forget(p.name);
    const info = p.info();
    this.emit('unloaded', info);
    return info;
  }

  /**
   * Hot upgrade: prepares `source` (default: the plugin's own source again, for a folder
   * whose files changed), starts it next to the running process, sends new calls to it, lets
   * calls in flight finish on the old one, then stops the old one. No call fails because of
   * the switch. On any error the old version keeps serving and UpgradeError says why.
   */
  async upgrade(ref: string, source?: SourceSpec | string): Promise<PluginInfo> {
    const p = this.#find(ref);
    const spec =
      source === undefined
        ? p.spec
        : typeof source === 'string'
          ? parseSourceString(source)
          : source;
    let next: PreparedPlugin;
    try {
      next = await prepareSource(spec, this.#source);
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
    const p = this.#find(ref);
    const { range } = parseRef(ref);
    const interfaces = p.prepared.manifest.plugins;
    if (!(def.name in interfaces))
      throw new UnknownPluginError(def.name, Object.keys(interfaces), 'plugin');
    if (p.state === 'stopped') await p.start();
    const methods = def.methods ?? interfaces[def.name]?.methods;
    const call =
      (method: string) =>
      (...args: unknown[]) =>
        this.#invoke<T, unknown>(p.name, range, def, method, options, (client) => {
          const fn = (client as Record<string, unknown>)[method];
          if (typeof fn !== 'function')
            throw new TypeError(`${def.name} has no method "${method}"`);
          return fn.apply(client, args);
        });
    if (methods) return Object.fromEntries(methods.map((m) => [m, call(m)])) as T;
    return new Proxy({} as object, {
      // `then` must stay undefined, or `await handle` would treat the handle as a promise.
      get: (_, prop) =>
        typeof prop === 'string' && prop !== 'then' && prop !== 'toJSON' ? call(prop) : undefined,
    }) as T;
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
    const p = this.#find(ref);
    const interfaces = Object.keys(p.prepared.manifest.plugins);
    const iface = options.interface ?? (interfaces.length === 1 ? interfaces[0]! : undefined);
    if (!iface) {
      throw new TypeError(
        `plugin "${p.name}" serves several interfaces (${interfaces.join(', ')}): name one`,
      );
    }
    if (!interfaces.includes(iface)) throw new UnknownPluginError(iface, interfaces, 'plugin');
    if (p.state === 'stopped') await p.start();
    let def = this.#rawDefs.get(iface);
    if (!def) {
      def = { name: iface };
      this.#rawDefs.set(iface, def);
    }
    return this.#invoke(p.name, parseRef(ref).range, def, method, options, (peer) =>
      peer.request(method, args),
    );
  }

  async #invoke<T, R>(
    name: string,
    range: string | undefined,
    def: Def<T>,
    method: string,
    options: DispenseOptions,
    fn: (client: T) => Promise<R> | R,
  ): Promise<R> {
    const end = this.#metrics.startCall(name, method);
    let inst: Instance | undefined;
    let idle: Sleeper | undefined;
    try {
      // Looked up per call: watch mode may have replaced the plugin since dispense().
      const p = this.#plugins.get(name);
      if (!p) throw new PluginNotFoundError(name, [...this.#plugins.keys()]);
      if (range && !semver.satisfies(p.version, range, { includePrerelease: true })) {
        throw new VersionMismatchError(name, range, [p.version]);
      }
      idle = sleeper(p);
      this.#idle.enter(idle);
      // A lazy or idle-stopped plugin starts for this call (after a stop in progress ends);
      // never once the manager is closing.
      if (!this.#closed && this.#idle.wakes(idle)) await p.start();
      inst = await p.acquire(
        options.whileRestarting ?? this.#o.whileRestarting ?? 'fail',
        options.waitTimeout ?? this.#o.waitTimeout ?? 30_000,
      );
      const client = await inst.bind(def);
      const result = await fn(client);
      end(true);
      return result;
    } catch (err) {
      end(false);
      throw err;
    } finally {
      inst?.leave();
      if (idle) this.#idle.leave(idle);
    }
  }

  /**
   * A plugin's manifest, state and methods. The methods come from the running process
   * (`plugwire/info`); with `start: true` a stopped plugin is started to ask it.
   */
  async inspect(ref: string, options: { start?: boolean } = {}): Promise<Inspection> {
    const p = this.#find(ref);
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
    return { info: this.#info(p), manifest, methods, process: proc };
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
   * would run changed. Each outcome is a `watch` event.
   */
  async watch(): Promise<void> {
    this.#assertOpen();
    if (this.#watcher) return;
    this.#watcher = new DirWatcher(this.#o.watchDebounce ?? 150, (folder) => {
      void this.#reconcile(folder);
    });
    await this.#watcher.add(this.dirs);
  }

  // Changes of one folder are handled one at a time, in order.
  readonly #reconciling = new Map<string, Promise<void>>();

  #reconcile(folder: string): Promise<void> {
    const prev = this.#reconciling.get(folder) ?? Promise.resolve();
    const next = prev.then(() => this.#reconcileNow(folder));
    this.#reconciling.set(folder, next);
    void next.finally(() => {
      if (this.#reconciling.get(folder) === next) this.#reconciling.delete(folder);
    });
    return next;
  }

  async #reconcileNow(folder: string): Promise<void> {
    if (this.#closed) return;
    const loaded = [...this.#plugins.values()].find(
      (p) => 'path' in p.spec && p.spec.path === folder,
    );
    const report = (action: WatchEvent['action'], plugin: string | undefined, error?: Error) => {
      debug('watch %s: %s %s', folder, action, plugin ?? '');
      this.emit('watch', { folder, action, plugin, ...(error ? { error } : {}) });
      if (error) this.#warn(error);
    };
    try {
      if (!existsSync(join(folder, MANIFEST_FILE))) {
        if (loaded) {
          await this.unload(loaded.name);
          report('unloaded', loaded.name);
        }
        return;
      }
      if (!loaded) {
        const info = await this.load({ path: folder });
        report('loaded', info.name);
        return;
      }
      const next = await prepareSource(loaded.spec, this.#source);
      if (next.manifest.name !== loaded.name) {
        await this.unload(loaded.name);
        const info = await this.load({ path: folder });
        report('loaded', info.name);
        return;
      }
      if (next.fingerprint === loaded.prepared.fingerprint) {
        report('unchanged', loaded.name);
        return;
      }
      this.#checkFits(loaded.name, next, loaded.settings);
      await loaded.upgrade(next);
      report('upgraded', loaded.name);
    } catch (err) {
      report('error', loaded?.name, err as Error);
    }
  }

  // ---- the end -----------------------------------------------------------------------------

  /** Stops watching and stops every plugin (calls in flight finish first). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#watcher?.close();
    await Promise.allSettled([...this.#reconciling.values()]);
    for (const name of this.#plugins.keys()) this.#idle.forget(name);
    await Promise.all([...this.#plugins.values()].map((p) => p.dispose()));
  }

  #assertOpen(): void {
    if (this.#closed) throw new PluginUnavailableError('*', 'stopped', 'the manager is closed');
  }

  #warn(err: Error): void {
    debug('warning: %s', err.message);
    this.emit('warning', err);
  }
}

/** The view of a plugin the idle tracker needs (the manifest may change with an upgrade). */
function sleeper(p: ManagedPlugin): Sleeper {
  return {
    name: p.name,
    get state() {
      return p.state;
    },
    get activation() {
      return p.prepared.manifest.activation;
    },
    stop: () => p.stop(),
  };
}

function withoutName(s: PluginSettings & { name?: string }): PluginSettings {
  const { name: _, ...rest } = s;
  return rest;
}
