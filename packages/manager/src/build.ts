// Compiling a plugin's TypeScript (or bundling its JavaScript) into the cache with esbuild.
//
// Why esbuild and not the workspace's `typescript`: TypeScript 7 ships no stable in-process
// compile API, and plugin code must not be type-checked by the host anyway (that is the
// author's build); esbuild strips types and bundles the entry with what it imports into one
// self-contained ES module in ~50 ms. Bundling matters: the output lives in the cache, away
// from the source's node_modules, so it must not need them at run time; and a snapshot
// keeps a running plugin unaffected while its sources change (hot upgrade starts the new
// build next to it). esbuild is already in the workspace as tsx's compiler.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { KEY_HEX_DIGITS, sha256, sha256File, shortKey } from './cache.js';
import { SourceError } from './errors.js';

/** Outcome of compileEntry(). */
export interface BuildResult {
  /** The compiled ES module. */
  outFile: string;
  /** Changes exactly when an input file's content (or esbuild's version) changes. */
  key: string;
  /** False when the cached output was still fresh. */
  rebuilt: boolean;
}

interface BuildIndex {
  key: string;
  outFile: string;
  /** Absolute path → sha256 of every file that went into the output. */
  inputs: Record<string, string>;
}

// Code bundled into an ES module may still call require() (CommonJS dependencies such as
// `debug` require Node built-ins): give it a real one.
const BANNER =
  "import { createRequire as __plugwireCreateRequire } from 'node:module';\n" +
  'const require = __plugwireCreateRequire(import.meta.url);';

const FALLBACK = Symbol('plugwire-fallback');

/**
 * A plugin written for plugwire imports @plugwire/sdk (or core). When the plugin's folder
 * has no node_modules of its own (a source folder, a bare git checkout), they resolve to the
 * host's copies, the ones this manager runs with.
 */
const hostPackages: esbuild.Plugin = {
  name: 'plugwire-host-packages',
  setup(build) {
    build.onResolve({ filter: /^@plugwire\/(?:sdk|core)$/ }, async (args) => {
      if (args.pluginData === FALLBACK) return undefined;
      const found = await build.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: FALLBACK,
      });
      if (found.errors.length === 0) return { path: found.path, external: found.external };
      return { path: fileURLToPath(import.meta.resolve(args.path)) };
    });
  },
};

// esbuild runs a service process; stopping it when no build is running means the manager
// leaves no helper process behind between loads.
let active = 0;

async function withEsbuild<T>(fn: () => Promise<T>): Promise<T> {
  active++;
  try {
    return await fn();
  } finally {
    if (--active === 0) await esbuild.stop();
  }
}

/**
 * Compiles `<dir>/<entry>` into `<cacheDir>/build/`, or returns the cached output when no
 * input changed (every input's content is hashed, dependencies included).
 */
export async function compileEntry(o: {
  dir: string;
  entry: string;
  name: string;
  cacheDir: string;
}): Promise<BuildResult> {
  const entryFile = resolve(o.dir, o.entry);
  const buildDir = join(o.cacheDir, 'build', `${o.name}-${shortKey(entryFile)}`);
  const indexFile = join(buildDir, 'index.json');
  const cached = await readIndex(indexFile);
  if (cached && existsSync(cached.outFile) && (await unchanged(cached.inputs))) {
    return { outFile: cached.outFile, key: cached.key, rebuilt: false };
  }
  await mkdir(buildDir, { recursive: true });
  const tmpFile = join(buildDir, `build-${process.pid}-${Date.now()}.mjs`);
  const result = await withEsbuild(async () => {
    try {
      return await esbuild.build({
        entryPoints: [entryFile],
        absWorkingDir: o.dir,
        outfile: tmpFile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        sourcemap: 'inline',
        metafile: true,
        logLevel: 'silent',
        banner: { js: BANNER },
        // Native addons cannot be bundled; msgpackr falls back to JS without its extension.
        external: ['*.node', 'msgpackr-extract'],
        plugins: [hostPackages],
      });
    } catch (err) {
      const errors = (err as esbuild.BuildFailure).errors;
      const text = errors
        ? (await esbuild.formatMessages(errors.slice(0, 5), { kind: 'error', color: false })).join(
            '',
          )
        : (err as Error).message;
      throw new SourceError(o.dir, `compiling ${o.entry} failed:\n${text.trimEnd()}`, {
        cause: err,
        plugin: o.name,
        file: o.entry,
      });
    }
  });
  const inputs: Record<string, string> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = isAbsolute(input) ? input : resolve(o.dir, input);
    if (existsSync(path)) inputs[path] = await sha256File(path);
  }
  const key = sha256(
    JSON.stringify([esbuild.version, Object.entries(inputs).sort(([a], [b]) => (a < b ? -1 : 1))]),
  ).slice(0, KEY_HEX_DIGITS);
  const outFile = join(buildDir, `${key}.mjs`);
  await rename(tmpFile, outFile);
  const index: BuildIndex = { key, outFile, inputs };
  await writeFile(indexFile, JSON.stringify(index, null, 2));
  return { outFile, key, rebuilt: true };
}

async function readIndex(file: string): Promise<BuildIndex | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as BuildIndex;
  } catch {
    return undefined;
  }
}

async function unchanged(inputs: Record<string, string>): Promise<boolean> {
  for (const [path, hash] of Object.entries(inputs)) {
    try {
      if ((await sha256File(path)) !== hash) return false;
    } catch {
      return false;
    }
  }
  return true;
}
