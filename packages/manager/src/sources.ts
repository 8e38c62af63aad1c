// Where plugins come from: a plugin directory as it is (built JS, an executable in any
// language, or TypeScript compiled on load), an npm package (npm.ts), a git repository at a
// ref (git.ts), or a packed bundle whose sha256 is checked (bundle.ts). Each becomes a
// directory with a plugin.json and a command to run (prepare.ts).
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { unpackBundle } from './bundle.js';
import { SourceError } from './errors.js';
import { checkoutGit } from './git.js';
import type { Manifest } from './manifest.js';
import { installPackage, isLocalPackage } from './npm.js';
import { prepareDir } from './prepare.js';

/** Where a plugin comes from. Relative paths are resolved against the config file's folder. */
export type SourceSpec =
  /** A plugin directory (with plugin.json), used where it is. */
  | { path: string }
  /** An npm package: a local `.tgz` (from `npm pack`) or a name such as `kv-plugin@^2`. */
  | { package: string }
  /** A git repository (any URL git clones, `file://` included) at a branch, tag or commit. */
  | { git: string; ref?: string }
  /** A bundle made by `plugwire pack`, accepted only with this sha256. */
  | { bundle: string; sha256: string };

export type SourceKind = 'path' | 'package' | 'git' | 'bundle';

/** How a loaded plugin got here. */
export interface Origin {
  kind: SourceKind;
  /** The source as given (absolute path, package spec, `url#ref`, bundle path). */
  spec: string;
  /** What it resolved to: the git commit, the bundle's sha256, the package's name@version. */
  resolved: string | undefined;
  /** True when the install, checkout or unpack came from the cache. */
  cached: boolean;
  /** For TypeScript entries: the compiled file, and whether this load compiled it. */
  build: { outFile: string; rebuilt: boolean } | undefined;
}

/** A plugin ready to start. */
export interface PreparedPlugin {
  manifest: Manifest;
  /** The plugin directory: the plugin's working directory. */
  dir: string;
  command: string;
  args: string[];
  origin: Origin;
  /** Changes when what would run changes (a new version, rebuilt code, edited files). */
  fingerprint: string;
  /**
   * Checks, right before each start, that the files are still the verified ones (bundles:
   * each file against the sha256 of its bytes in the checked bundle); throws
   * IntegrityError naming the file otherwise.
   */
  verify?: (() => Promise<void>) | undefined;
}

export interface SourceContext {
  cacheDir: string;
  /** Folder that relative paths are resolved against. */
  baseDir: string;
}

/** What the host's settings say about preparing one plugin's source. */
export interface PrepareOptions {
  /** The plugin's name, when the host named it (errors say it). */
  plugin?: string | undefined;
  /**
   * Let npm run the package's install scripts (and its dependencies'), and run a git
   * checkout's `build` script. Off: a load runs no code of the plugin. @default false
   */
  allowScripts?: boolean | undefined;
  /** For a missing entry: true when the folder's build script was skipped (says so). */
  buildSkipped?: ((dir: string) => boolean) | undefined;
}

export function sourceKind(spec: SourceSpec): SourceKind {
  if ('git' in spec) return 'git';
  if ('package' in spec) return 'package';
  if ('bundle' in spec) return 'bundle';
  return 'path';
}

/** Human form of a source, for tables and errors. */
export function describeSource(spec: SourceSpec): string {
  if ('git' in spec) return `${spec.git}#${spec.ref ?? 'HEAD'}`;
  if ('package' in spec) return spec.package;
  if ('bundle' in spec) return spec.bundle;
  return spec.path;
}

/**
 * Reads the string shorthand of a source: `git+<url>#<ref>` or `<url>.git#<ref>` (git),
 * `npm:<spec>` or a path ending in `.tgz` (package), anything else a plugin directory.
 * Bundles need their sha256, so they are written as objects.
 */
export function parseSourceString(s: string): SourceSpec {
  const hash = s.lastIndexOf('#');
  const [url, ref] = hash > 0 ? [s.slice(0, hash), s.slice(hash + 1)] : [s, undefined];
  if (s.startsWith('git+')) return { git: url.slice(4), ...(ref ? { ref } : {}) };
  if (/\.git$/.test(url) && /^(?:[a-z]+:\/\/|git@)/.test(url))
    return { git: url, ...(ref ? { ref } : {}) };
  if (s.startsWith('npm:')) return { package: s.slice(4) };
  if (/\.(?:tgz|tar\.gz)$/.test(s)) return { package: s };
  return { path: s };
}

/** Makes a source's local paths absolute. */
export function resolveSource(spec: SourceSpec, baseDir: string): SourceSpec {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if ('path' in spec) return { path: abs(spec.path) };
  if ('bundle' in spec) return { bundle: abs(spec.bundle), sha256: spec.sha256.toLowerCase() };
  if ('package' in spec)
    return isLocalPackage(spec.package) ? { package: abs(spec.package) } : spec;
  if ('git' in spec && /^(?:\.{1,2}\/|\/)/.test(spec.git)) return { ...spec, git: abs(spec.git) };
  return spec;
}

/** Fetches, installs, builds or unpacks a source as needed, and prepares it to run. */
export async function prepareSource(
  spec: SourceSpec,
  ctx: SourceContext,
  o: PrepareOptions = {},
): Promise<PreparedPlugin> {
  const s = resolveSource(spec, ctx.baseDir);
  if ('path' in s) {
    if (!existsSync(s.path))
      throw new SourceError(s.path, 'no such plugin directory', { plugin: o.plugin });
    return prepareDir(
      s.path,
      { kind: 'path', spec: s.path, resolved: undefined, cached: false },
      ctx,
      o,
    );
  }
  if ('package' in s) return installPackage(s.package, ctx, o);
  if ('git' in s) return checkoutGit(s.git, s.ref ?? 'HEAD', ctx, o);
  return unpackBundle(s.bundle, s.sha256, ctx, o);
}
