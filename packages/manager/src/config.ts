// The manager's options: what each means, its default (in `managerDefaults`, the one place
// they are written), and `resolveManagerOptions`, which fills them in and refuses values the
// manager cannot honour with a TypeError or RangeError naming the option.
import { resolve } from 'node:path';
import type { HandshakeConfig } from '@plugwire/core';
import { defaultCacheDir } from './cache.js';
import type { PluginSettings } from './managed-plugin.js';
import { resolveSupervisorOptions, type SupervisorOptions } from './supervisor.js';

/** What calls do while a crashed plugin restarts. */
export type WhileRestarting = 'fail' | 'wait';

/** Options of a PluginManager. Everything is optional. */
export interface ManagerOptions {
  /**
   * Plugin directories: each sub-folder with a plugin.json is a plugin (a directory that has
   * a plugin.json itself is one plugin).
   * @default []
   */
  dirs?: readonly string[];
  /** Plugins by name: sources to load them from, version ranges, config, env. @default {} */
  plugins?: Record<string, PluginSettings>;
  /** Where compiled, installed, cloned and unpacked plugins go. @default defaultCacheDir() */
  cacheDir?: string;
  /** Folder relative sources are resolved against. @default process.cwd() */
  baseDir?: string;
  /** Restart policy for crashed plugins. @default supervisorDefaults */
  supervisor?: SupervisorOptions;
  /**
   * Calls made while a crashed plugin restarts: `fail` rejects them at once with
   * PluginUnavailableError; `wait` holds them until it runs again (up to `waitTimeout`).
   * @default 'fail'
   */
  whileRestarting?: WhileRestarting;
  /** Longest wait of a call under `whileRestarting: 'wait'`. @default 30_000 (ms) */
  waitTimeout?: number;
  /** How long stop() and upgrade() let calls in flight finish before stopping a process. @default 30_000 (ms) */
  drainTimeout?: number;
  /** Grace period between asking a plugin to quit and SIGKILL. @default PluginClient's (2_000 ms) */
  killGrace?: number;
  /** Longest start (handshake, connect, init). @default PluginClient's (60_000 ms) */
  startTimeout?: number;
  /** Start plugins as they are loaded (loadAll(), watch mode). @default false */
  autoStart?: boolean;
  /** Quiet time after the last change in a plugin folder before watch mode acts. @default 150 (ms) */
  watchDebounce?: number;
  /** Extra environment for every plugin process. @default {} */
  env?: Record<string, string>;
  /** Where plugin processes create their socket directories. @default os.tmpdir() */
  unixSocketDir?: string;
  /** Cookie and base protocol version; must match the plugins'. @default plugwire's */
  handshake?: HandshakeConfig;
}

/** Per-handle overrides of the call options. */
export interface DispenseOptions {
  /** Overrides ManagerOptions.whileRestarting for this handle. */
  whileRestarting?: WhileRestarting;
  /** Overrides ManagerOptions.waitTimeout for this handle. */
  waitTimeout?: number;
}

export const managerDefaults = {
  whileRestarting: 'fail',
  // A restart takes a backoff delay (200 ms, growing) plus a start (~100 ms for Node): 30 s
  // covers several restarts in a row, and is shorter than most HTTP clients' own timeouts.
  waitTimeout: 30_000,
  // Calls in flight are usually milliseconds; a slow one gets as long as a waiting caller.
  drainTimeout: 30_000,
  autoStart: false,
  // Editors write a file in several steps (temp file, rename, chmod) within a few ms; 150 ms
  // sees them as one change without a noticeable delay.
  watchDebounce: 150,
} as const satisfies Partial<ManagerOptions>;

/** ManagerOptions with defaults filled in, paths absolute. */
export interface ResolvedManagerOptions {
  dirs: readonly string[];
  plugins: Record<string, PluginSettings>;
  cacheDir: string;
  baseDir: string;
  supervisor: Required<SupervisorOptions>;
  whileRestarting: WhileRestarting;
  waitTimeout: number;
  drainTimeout: number;
  /** Undefined: PluginClient's default. */
  killGrace: number | undefined;
  /** Undefined: PluginClient's default. */
  startTimeout: number | undefined;
  autoStart: boolean;
  watchDebounce: number;
  env: Record<string, string> | undefined;
  unixSocketDir: string | undefined;
  handshake: HandshakeConfig | undefined;
}

/** A number of milliseconds ≥ 0 (or undefined), else a TypeError/RangeError naming `name`. */
export function checkMs(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw new TypeError(`${name} must be a number of milliseconds (got ${JSON.stringify(v)})`);
  }
  if (v < 0) throw new RangeError(`${name} must be ≥ 0 ms (got ${v})`);
  return v;
}

/** `fail` or `wait` (or undefined), else a TypeError naming `name`. */
export function checkWhileRestarting(name: string, v: unknown): WhileRestarting | undefined {
  if (v === undefined || v === 'fail' || v === 'wait') return v;
  throw new TypeError(`${name} must be 'fail' or 'wait' (got ${JSON.stringify(v)})`);
}

/** Checks DispenseOptions (a handle's overrides). */
export function checkDispenseOptions(o: DispenseOptions): void {
  checkWhileRestarting('whileRestarting', o.whileRestarting);
  checkMs('waitTimeout', o.waitTimeout);
}

/** Fills in defaults and refuses options the manager cannot honour. */
export function resolveManagerOptions(options: ManagerOptions = {}): ResolvedManagerOptions {
  const o = options;
  if (
    o.dirs !== undefined &&
    (!Array.isArray(o.dirs) || !o.dirs.every((d) => typeof d === 'string'))
  ) {
    throw new TypeError('dirs must be an array of directory paths');
  }
  for (const k of ['cacheDir', 'baseDir', 'unixSocketDir'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') {
      throw new TypeError(`${k} must be a path (got ${JSON.stringify(o[k])})`);
    }
  }
  for (const k of ['autoStart'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') {
      throw new TypeError(`${k} must be true or false (got ${JSON.stringify(o[k])})`);
    }
  }
  if (o.plugins !== undefined && (typeof o.plugins !== 'object' || o.plugins === null)) {
    throw new TypeError('plugins must be an object of { "<name>": settings }');
  }
  const baseDir = resolve(o.baseDir ?? process.cwd());
  return {
    dirs: (o.dirs ?? []).map((d) => resolve(baseDir, d)),
    plugins: o.plugins ?? {},
    cacheDir: resolve(o.cacheDir ?? defaultCacheDir()),
    baseDir,
    supervisor: resolveSupervisorOptions(o.supervisor),
    whileRestarting:
      checkWhileRestarting('whileRestarting', o.whileRestarting) ?? managerDefaults.whileRestarting,
    waitTimeout: checkMs('waitTimeout', o.waitTimeout) ?? managerDefaults.waitTimeout,
    drainTimeout: checkMs('drainTimeout', o.drainTimeout) ?? managerDefaults.drainTimeout,
    killGrace: checkMs('killGrace', o.killGrace),
    startTimeout: checkMs('startTimeout', o.startTimeout),
    autoStart: o.autoStart ?? managerDefaults.autoStart,
    watchDebounce: checkMs('watchDebounce', o.watchDebounce) ?? managerDefaults.watchDebounce,
    env: o.env,
    unixSocketDir: o.unixSocketDir,
    handshake: o.handshake,
  };
}
