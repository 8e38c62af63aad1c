// Where plugins come from, and how each kind becomes a directory with a plugin.json and a
// command to run: a plugin directory as it is (built JS, an executable in any language, or
// TypeScript compiled on load), an npm package, a git repository at a ref, or a packed
// bundle whose sha256 is checked.
import { constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { access, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { compileEntry } from './build.js';
import { fillOnce, runTool, sha256, sha256File, shortKey } from './cache.js';
import { IntegrityError, ManifestError, SourceError } from './errors.js';
import { isTypeScript, MANIFEST_FILE, type Manifest, readManifest } from './manifest.js';

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
}

export interface SourceContext {
  cacheDir: string;
  /** Folder that relative paths are resolved against. */
  baseDir: string;
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

function isLocalPackage(p: string): boolean {
  return /\.(?:tgz|tar\.gz)$/.test(p) || /^(?:\.{1,2}\/|\/|file:)/.test(p);
}

/** Fetches, installs, builds or unpacks a source as needed, and prepares it to run. */
export async function prepareSource(spec: SourceSpec, ctx: SourceContext): Promise<PreparedPlugin> {
  const s = resolveSource(spec, ctx.baseDir);
  if ('path' in s) {
    if (!existsSync(s.path)) throw new SourceError(s.path, 'no such plugin directory');
    return prepareDir(
      s.path,
      { kind: 'path', spec: s.path, resolved: undefined, cached: false },
      ctx,
    );
  }
  if ('package' in s) return installPackage(s.package, ctx);
  if ('git' in s) return checkoutGit(s.git, s.ref ?? 'HEAD', ctx);
  return unpackBundle(s.bundle, s.sha256, ctx);
}

/** A plugin directory as it is: reads its manifest and works out the command. */
export async function prepareDir(
  dir: string,
  origin: Omit<Origin, 'build'>,
  ctx: SourceContext,
): Promise<PreparedPlugin> {
  const manifest = readManifest(dir);
  const manifestFile = join(dir, MANIFEST_FILE);
  const manifestText = readFileSync(manifestFile, 'utf8');
  const entry = manifest.entry;
  let command: string;
  let args: string[];
  let build: Origin['build'];
  let fingerprint: string;
  if (entry.kind === 'node') {
    const file = resolve(dir, entry.file);
    if (!existsSync(file)) {
      throw new ManifestError(
        manifestFile,
        'entry',
        `names ${entry.file}, which does not exist in ${dir}${isTypeScript(entry.file) ? '' : ' (not built yet?)'}`,
      );
    }
    if (isTypeScript(entry.file)) {
      const b = await compileEntry({
        dir,
        entry: entry.file,
        name: manifest.name,
        cacheDir: ctx.cacheDir,
      });
      build = { outFile: b.outFile, rebuilt: b.rebuilt };
      command = process.execPath;
      args = ['--enable-source-maps', b.outFile];
      fingerprint = sha256(`${manifestText}\0${b.key}`);
    } else {
      command = process.execPath;
      args = [file];
      fingerprint = sha256(`${manifestText}\0${treeStamp(dir)}`);
    }
  } else {
    command = entry.command;
    if (entry.command.includes('/')) {
      command = resolve(dir, entry.command);
      try {
        await access(command, constants.X_OK);
      } catch {
        throw new ManifestError(
          manifestFile,
          'entry.command',
          existsSync(command)
            ? `${entry.command} is not executable (chmod +x it)`
            : `${entry.command} does not exist in ${dir}`,
        );
      }
    }
    args = [...entry.args];
    fingerprint = sha256(`${manifestText}\0${treeStamp(dir)}`);
  }
  return { manifest, dir, command, args, origin: { ...origin, build }, fingerprint };
}

/**
 * Size and mtime of every file under `dir` (but node_modules and .git): any edit, addition
 * or removal changes it. For plugins that run from their folder as they are.
 */
function treeStamp(dir: string): string {
  const parts: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name === 'node_modules' || name === '.git') continue;
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else parts.push(`${relative(dir, p)}:${st.size}:${st.mtimeMs}`);
    }
  };
  walk(dir);
  return sha256(parts.join('\n'));
}

// ---- packages -----------------------------------------------------------------------

const NPM_FLAGS = ['--no-audit', '--no-fund', '--loglevel=error'];

/**
 * Installs an npm package (a local tarball, or a spec the registry resolves) with its
 * dependencies into `<cache>/packages/<key>`, once per tarball content or spec.
 */
async function installPackage(spec: string, ctx: SourceContext): Promise<PreparedPlugin> {
  const local = isLocalPackage(spec);
  if (local && !existsSync(spec.replace(/^file:/, '')))
    throw new SourceError(spec, 'no such package file');
  const key = local ? (await sha256File(spec.replace(/^file:/, ''))).slice(0, 16) : shortKey(spec);
  const prefix = join(ctx.cacheDir, 'packages', key);
  const cached = await fillOnce(prefix, async (tmp) => {
    await writeFile(
      join(tmp, 'package.json'),
      JSON.stringify({ name: 'plugwire-install', private: true }),
    );
    await runTool(spec, 'npm', ['install', ...NPM_FLAGS, spec], { cwd: tmp });
  });
  const deps = JSON.parse(await readFile(join(prefix, 'package.json'), 'utf8')).dependencies ?? {};
  const name = Object.keys(deps)[0];
  if (!name) throw new SourceError(spec, `npm installed nothing into ${prefix}`);
  const dir = join(prefix, 'node_modules', name);
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: string };
  if (!existsSync(join(dir, MANIFEST_FILE))) {
    throw new SourceError(
      spec,
      `package ${name} has no plugin.json: add it to the package's "files"`,
    );
  }
  return prepareDir(
    dir,
    { kind: 'package', spec, resolved: `${name}@${pkg.version}`, cached },
    ctx,
  );
}

// ---- git ----------------------------------------------------------------------------

const GIT_ENV = { GIT_TERMINAL_PROMPT: '0' };

/** The commit a ref names in a remote repository. */
export async function resolveGitRef(url: string, ref: string): Promise<string> {
  if (/^[0-9a-f]{40}$/i.test(ref)) return ref.toLowerCase();
  const out = await runTool(`${url}#${ref}`, 'git', ['ls-remote', url], { env: GIT_ENV });
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, name] = line.split('\t');
    if (sha && name) refs.set(name, sha);
  }
  // An annotated tag's commit is its peeled ref (`^{}`).
  for (const name of [
    `refs/tags/${ref}^{}`,
    `refs/tags/${ref}`,
    `refs/heads/${ref}`,
    ref === 'HEAD' ? 'HEAD' : `refs/${ref}`,
  ]) {
    const sha = refs.get(name);
    if (sha) return sha;
  }
  const known = [...refs.keys()]
    .filter((n) => !n.endsWith('^{}'))
    .map((n) => n.replace(/^refs\/(?:heads|tags)\//, ''));
  throw new SourceError(
    `${url}#${ref}`,
    `no branch or tag "${ref}" (the repository has: ${known.join(', ') || 'nothing'})`,
  );
}

/**
 * Clones a repository at the commit its ref names into `<cache>/git/<url key>/<commit>`,
 * installs its dependencies and runs its build script, once per commit.
 */
async function checkoutGit(url: string, ref: string, ctx: SourceContext): Promise<PreparedPlugin> {
  const where = `${url}#${ref}`;
  const commit = await resolveGitRef(url, ref);
  const dir = join(ctx.cacheDir, 'git', shortKey(url), commit);
  const cached = await fillOnce(dir, async (tmp) => {
    await runTool(where, 'git', ['clone', '--quiet', '--no-checkout', url, tmp], { env: GIT_ENV });
    await runTool(where, 'git', ['checkout', '--quiet', commit], { cwd: tmp, env: GIT_ENV });
    await installAndBuild(where, tmp);
  });
  return prepareDir(dir, { kind: 'git', spec: where, resolved: commit, cached }, ctx);
}

/** `npm install` when the package has dependencies, then `npm run build` when it has one. */
async function installAndBuild(where: string, dir: string): Promise<void> {
  const pkgFile = join(dir, 'package.json');
  if (!existsSync(pkgFile)) return;
  const pkg = JSON.parse(await readFile(pkgFile, 'utf8')) as {
    dependencies?: object;
    devDependencies?: object;
    scripts?: Record<string, string>;
  };
  const hasDeps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).length > 0;
  if (hasDeps) await runTool(where, 'npm', ['install', ...NPM_FLAGS], { cwd: dir });
  if (pkg.scripts?.build) await runTool(where, 'npm', ['run', '--silent', 'build'], { cwd: dir });
}

// ---- bundles ------------------------------------------------------------------------

/** What `packBundle` made. */
export interface PackedBundle {
  file: string;
  sha256: string;
  manifest: Manifest;
}

/**
 * Packs a plugin directory into a bundle: a gzipped tar with plugin.json and, for JS and
 * TypeScript plugins, the entry bundled with everything it imports into one `plugin.mjs`
 * (so the bundle needs no install); for a command entry, the directory as it is.
 */
export async function packBundle(
  dir: string,
  outDir: string,
  ctx: SourceContext,
): Promise<PackedBundle> {
  const prepared = await prepareDir(
    resolve(dir),
    { kind: 'path', spec: dir, resolved: undefined, cached: false },
    ctx,
  );
  const m = prepared.manifest;
  const stage = join(ctx.cacheDir, 'pack', `${m.name}-${Date.now()}-${process.pid}`);
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });
  try {
    const raw = JSON.parse(readFileSync(join(prepared.dir, MANIFEST_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    if (m.entry.kind === 'node') {
      const built =
        prepared.origin.build?.outFile ??
        (
          await compileEntry({
            dir: prepared.dir,
            entry: m.entry.file,
            name: m.name,
            cacheDir: ctx.cacheDir,
          })
        ).outFile;
      await cp(built, join(stage, 'plugin.mjs'));
      raw.entry = 'plugin.mjs';
    } else {
      await cp(prepared.dir, stage, {
        recursive: true,
        filter: (src) =>
          !/(?:^|\/)(?:\.git|node_modules)(?:\/|$)/.test(relative(prepared.dir, src)),
      });
    }
    await writeFile(join(stage, MANIFEST_FILE), `${JSON.stringify(raw, null, 2)}\n`);
    await mkdir(outDir, { recursive: true });
    const file = join(outDir, `${m.name}-${m.version}.plugwire.tgz`);
    await tar.create({ gzip: true, file, cwd: stage, portable: true }, readdirSync(stage));
    return { file, sha256: await sha256File(file), manifest: m };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Checks a bundle's sha256, then unpacks it into `<cache>/bundles/<sha256>` once. */
async function unpackBundle(
  file: string,
  expected: string,
  ctx: SourceContext,
): Promise<PreparedPlugin> {
  if (!/^[0-9a-f]{64}$/.test(expected)) {
    throw new SourceError(file, `"sha256" must be 64 hex digits (got "${expected}")`);
  }
  if (!existsSync(file)) throw new SourceError(file, 'no such bundle file');
  // Hash and unpack the same bytes: the file cannot change between the check and the use.
  const bytes = await readFile(file);
  const actual = sha256(bytes);
  if (actual !== expected) throw new IntegrityError(file, expected, actual);
  const dir = join(ctx.cacheDir, 'bundles', actual);
  const cached = await fillOnce(dir, async (tmp) => {
    await pipeline(Readable.from([bytes]), tar.extract({ cwd: tmp, strict: true }));
  });
  return prepareDir(dir, { kind: 'bundle', spec: file, resolved: actual, cached }, ctx);
}
