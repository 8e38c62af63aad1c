// npm sources: a package (a local .tgz from `npm pack`, or a spec the registry resolves)
// installed into the cache, and the dependencies and build of a git checkout.
//
// Installing runs no code of the package by default: npm runs a package's (and its
// dependencies') preinstall/install/postinstall scripts unless told not to, and a load
// (`plugwire list`) must not run plugin code, least of all as the host's user. A plugin whose
// install or build needs its scripts gets them with `allowScripts: true` in its settings.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { fillOnce, KEY_HEX_DIGITS, runTool, sha256File, shortKey } from './cache.js';
import { ArchiveError, SourceError } from './errors.js';
import { MANIFEST_FILE } from './manifest.js';
import { prepareDir } from './prepare.js';
import type { PreparedPlugin, PrepareOptions, SourceContext } from './sources.js';

const NPM_FLAGS = ['--no-audit', '--no-fund', '--loglevel=error'];

function npmFlags(o: PrepareOptions): string[] {
  return o.allowScripts ? NPM_FLAGS : [...NPM_FLAGS, '--ignore-scripts'];
}

/** True for a package spec that names a local file rather than a registry package. */
export function isLocalPackage(p: string): boolean {
  return /\.(?:tgz|tar\.gz)$/.test(p) || /^(?:\.{1,2}\/|\/|file:)/.test(p);
}

/**
 * Installs an npm package (a local tarball, or a spec the registry resolves) with its
 * dependencies into `<cache>/packages/<key>`, once per tarball content or spec.
 */
export async function installPackage(
  spec: string,
  ctx: SourceContext,
  o: PrepareOptions = {},
): Promise<PreparedPlugin> {
  const local = isLocalPackage(spec);
  const file = spec.replace(/^file:/, '');
  if (local && !existsSync(file))
    throw new SourceError(spec, 'no such package file', { plugin: o.plugin });
  // npm reads a spec that starts with "-" as an option.
  if (spec.startsWith('-')) {
    throw new SourceError(spec, 'a package spec must not start with "-"', {
      plugin: o.plugin,
      code: 'PLUGWIRE_SOURCE_REFUSED',
    });
  }
  if (local && /\.(?:tgz|tar\.gz)$/.test(file)) await checkTarball(file, o.plugin);
  const key = local ? (await sha256File(file)).slice(0, KEY_HEX_DIGITS) : shortKey(spec);
  const prefix = join(ctx.cacheDir, 'packages', `${key}${o.allowScripts ? '-scripts' : ''}`);
  const cached = await fillOnce(prefix, async (tmp) => {
    await writeFile(
      join(tmp, 'package.json'),
      JSON.stringify({ name: 'plugwire-install', private: true }),
    );
    await runTool(spec, 'npm', ['install', ...npmFlags(o), '--', spec], {
      cwd: tmp,
      plugin: o.plugin,
    });
  });
  const deps = JSON.parse(await readFile(join(prefix, 'package.json'), 'utf8')).dependencies ?? {};
  const name = Object.keys(deps)[0];
  if (!name)
    throw new SourceError(spec, `npm installed nothing into ${prefix}`, { plugin: o.plugin });
  const dir = join(prefix, 'node_modules', name);
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version?: string };
  if (!existsSync(join(dir, MANIFEST_FILE))) {
    throw new SourceError(
      spec,
      `package ${name} has no plugin.json: add it to the package's "files"`,
      { plugin: o.plugin, file: join(dir, MANIFEST_FILE) },
    );
  }
  return prepareDir(
    dir,
    { kind: 'package', spec, resolved: `${name}@${pkg.version}`, cached },
    ctx,
    o,
  );
}

/** True when the folder's package.json has a `build` script. */
export function hasBuildScript(dir: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      scripts?: Record<string, unknown>;
    };
    return typeof pkg.scripts?.build === 'string';
  } catch {
    return false;
  }
}

/**
 * A local package file must be a gzipped tar (what `npm pack` makes): said here as an
 * ArchiveError naming the file, rather than as npm's own words after it failed.
 */
async function checkTarball(file: string, plugin: string | undefined): Promise<void> {
  try {
    await tar.list({ file, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ArchiveError(
      file,
      `is not a gzipped tar made by \`npm pack\` (${code ?? (err as Error).message})`,
      { plugin, cause: err },
    );
  }
}

/**
 * In a git checkout: `npm install` when the package has dependencies, then, when scripts
 * are allowed, `npm run build` when it has one. The checkout's own `.npmrc` is removed first:
 * it could point npm's `git` or `script-shell` at a program of the repository.
 */
export async function installAndBuild(
  where: string,
  dir: string,
  o: PrepareOptions = {},
): Promise<void> {
  const pkgFile = join(dir, 'package.json');
  if (!existsSync(pkgFile)) return;
  await rm(join(dir, '.npmrc'), { force: true });
  const pkg = JSON.parse(await readFile(pkgFile, 'utf8')) as {
    dependencies?: object;
    devDependencies?: object;
    scripts?: Record<string, string>;
  };
  const hasDeps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).length > 0;
  if (hasDeps) {
    await runTool(where, 'npm', ['install', ...npmFlags(o)], { cwd: dir, plugin: o.plugin });
  }
  if (pkg.scripts?.build && o.allowScripts) {
    await runTool(where, 'npm', ['run', '--silent', 'build'], { cwd: dir, plugin: o.plugin });
  }
}
