// The host's config file: plugwire.config.json or plugwire.config.toml. It lists plugin
// directories, plugins with their sources, version ranges and config, and the supervisor's
// settings. TOML is read with smol-toml (TOML 1.0, no dependencies, maintained).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import semver from 'semver';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from './errors.js';
import type { PluginSettings } from './managed-plugin.js';
import { isObject } from './manifest.js';
import { parseSourceString, type SourceSpec } from './sources.js';
import { resolveSupervisorOptions, type SupervisorOptions } from './supervisor.js';

export const CONFIG_FILES = ['plugwire.config.json', 'plugwire.config.toml'] as const;

/** A validated config file. Paths in it are absolute (resolved against its folder). */
export interface HostConfig {
  file: string;
  pluginDirs: string[];
  cacheDir: string | undefined;
  plugins: Record<string, PluginSettings & { source?: SourceSpec }>;
  supervisor: SupervisorOptions;
  whileRestarting: 'fail' | 'wait' | undefined;
  waitTimeout: number | undefined;
  drainTimeout: number | undefined;
  killGrace: number | undefined;
  startTimeout: number | undefined;
  autoStart: boolean | undefined;
}

/** The config file in `dir`, if there is one. */
export function findConfig(dir: string): string | undefined {
  for (const name of CONFIG_FILES) {
    const f = join(dir, name);
    if (existsSync(f)) return f;
  }
  return undefined;
}

export function readConfig(file: string): HostConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(abs, undefined, `cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let raw: unknown;
  try {
    // TOML goes through JSON so both forms give the same plain objects (smol-toml's tables
    // have no prototype) and the same values (TOML dates become ISO strings).
    raw = JSON.parse(extname(abs) === '.toml' ? JSON.stringify(parseToml(text)) : text);
  } catch (err) {
    const kind = extname(abs) === '.toml' ? 'TOML' : 'JSON';
    throw new ConfigError(abs, undefined, `is not valid ${kind}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return validateConfig(raw, abs);
}

const TOP = new Set([
  'pluginDirs',
  'cacheDir',
  'plugins',
  'supervisor',
  'whileRestarting',
  'waitTimeout',
  'drainTimeout',
  'killGrace',
  'startTimeout',
  'autoStart',
  '$schema',
]);
const PLUGIN_KEYS = new Set(['source', 'version', 'config', 'env', 'enabled', 'allowScripts']);

export function validateConfig(raw: unknown, file: string): HostConfig {
  const base = dirname(file);
  const fail = (field: string | undefined, problem: string): never => {
    throw new ConfigError(file, field, problem);
  };
  if (!isObject(raw)) return fail(undefined, 'must hold an object');
  for (const k of Object.keys(raw)) {
    if (!TOP.has(k)) fail(k, `is not a config field (known: ${[...TOP].join(', ')})`);
  }
  const dirs = raw.pluginDirs ?? [];
  if (!Array.isArray(dirs) || !dirs.every((d) => typeof d === 'string')) {
    fail('pluginDirs', 'must be an array of directory paths');
  }
  const cacheDir = raw.cacheDir;
  if (cacheDir !== undefined && typeof cacheDir !== 'string') fail('cacheDir', 'must be a path');

  const plugins: HostConfig['plugins'] = {};
  const rawPlugins = raw.plugins ?? {};
  if (!isObject(rawPlugins))
    fail('plugins', 'must be an object of { "<name>": { source, version, config } }');
  for (const [name, entry] of Object.entries(rawPlugins as Record<string, unknown>)) {
    const at = `plugins.${name}`;
    if (!isObject(entry)) fail(at, 'must be an object');
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!PLUGIN_KEYS.has(k))
        fail(`${at}.${k}`, `is not a plugin setting (known: ${[...PLUGIN_KEYS].join(', ')})`);
    }
    const s: PluginSettings & { source?: SourceSpec } = {};
    if (e.source !== undefined) s.source = parseSource(e.source, `${at}.source`, fail);
    if (e.version !== undefined) {
      if (typeof e.version !== 'string' || semver.validRange(e.version) === null) {
        fail(
          `${at}.version`,
          `must be a semver range such as "^2" or ">=1.4 <3" (got ${JSON.stringify(e.version)})`,
        );
      }
      s.version = e.version as string;
    }
    if (e.config !== undefined) s.config = e.config;
    if (e.env !== undefined) {
      if (!isObject(e.env) || !Object.values(e.env).every((v) => typeof v === 'string')) {
        fail(`${at}.env`, 'must be an object of string values');
      }
      s.env = e.env as Record<string, string>;
    }
    for (const k of ['enabled', 'allowScripts'] as const) {
      if (e[k] === undefined) continue;
      if (typeof e[k] !== 'boolean') fail(`${at}.${k}`, 'must be true or false');
      s[k] = e[k] as boolean;
    }
    plugins[name] = s;
  }

  let supervisor: SupervisorOptions = {};
  if (raw.supervisor !== undefined) {
    if (!isObject(raw.supervisor)) fail('supervisor', 'must be an object');
    supervisor = raw.supervisor as SupervisorOptions;
    try {
      resolveSupervisorOptions(supervisor);
    } catch (err) {
      // "supervisor.factor must be ≥ 1 (got 0)": the field and the rule
      const [field, ...rest] = (err as Error).message.split(' ');
      fail(field, rest.join(' '));
    }
  }
  const wr = raw.whileRestarting;
  if (wr !== undefined && wr !== 'fail' && wr !== 'wait')
    fail('whileRestarting', 'must be "fail" or "wait"');
  const num = (k: string): number | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !(v >= 0)) fail(k, 'must be a number of milliseconds');
    return v as number;
  };
  const bool = (k: string): boolean | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') fail(k, 'must be true or false');
    return v as boolean;
  };
  return {
    file,
    pluginDirs: (dirs as string[]).map((d) => resolve(base, d)),
    cacheDir: typeof cacheDir === 'string' ? resolve(base, cacheDir) : undefined,
    plugins,
    supervisor,
    whileRestarting: wr as HostConfig['whileRestarting'],
    waitTimeout: num('waitTimeout'),
    drainTimeout: num('drainTimeout'),
    killGrace: num('killGrace'),
    startTimeout: num('startTimeout'),
    autoStart: bool('autoStart'),
  };
}

function parseSource(
  v: unknown,
  field: string,
  fail: (field: string, problem: string) => never,
): SourceSpec {
  if (typeof v === 'string') {
    if (v === '') fail(field, 'must not be empty');
    return parseSourceString(v);
  }
  if (!isObject(v)) {
    return fail(
      field,
      'must be a string or one of { path }, { package }, { git, ref }, { bundle, sha256 }',
    );
  }
  const kinds = ['path', 'package', 'git', 'bundle'].filter((k) => k in v);
  if (kinds.length !== 1) {
    fail(
      field,
      `must have exactly one of "path", "package", "git", "bundle" (got ${kinds.length ? kinds.join(', ') : 'none'})`,
    );
  }
  const kind = kinds[0]!;
  const allowed: Record<string, string[]> = {
    path: ['path'],
    package: ['package'],
    git: ['git', 'ref'],
    bundle: ['bundle', 'sha256'],
  };
  for (const k of Object.keys(v)) {
    if (!allowed[kind]!.includes(k))
      fail(`${field}.${k}`, `does not go with "${kind}" (allowed: ${allowed[kind]!.join(', ')})`);
    if (typeof v[k] !== 'string' || v[k] === '')
      fail(`${field}.${k}`, 'must be a non-empty string');
  }
  if (kind === 'bundle' && typeof v.sha256 !== 'string') {
    fail(`${field}.sha256`, 'is required for a bundle: the sha256 `plugwire pack` printed');
  }
  return v as unknown as SourceSpec;
}
