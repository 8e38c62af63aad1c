// Bundles: `plugwire pack` makes a reproducible gzipped tar of a plugin (same folder, same
// bytes, same sha256); loading one checks its sha256, reads it in memory, and runs a copy the
// host wrote itself into an owner-only cache directory, compared with the verified bytes on
// every load.

import { readFileSync } from 'node:fs';
import { cp, lstat, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, relative, resolve, sep } from 'node:path';
import * as tar from 'tar';
import { compileEntry } from './build.js';
import { fillOnce, PRIVATE_DIR_MODE, sha256, sha256File } from './cache.js';
import { ArchiveError, IntegrityError, SourceError } from './errors.js';
import { MANIFEST_FILE, type Manifest } from './manifest.js';
import { prepareDir } from './prepare.js';
import type { PreparedPlugin, PrepareOptions, SourceContext } from './sources.js';

/** What `packBundle` made. */
export interface PackedBundle {
  file: string;
  sha256: string;
  manifest: Manifest;
}

/**
 * The mtime of every entry of a bundle: a constant, so that packing the same folder twice
 * gives the same bytes (a pinned sha256 stays valid). 1980-01-01, as reproducible-build
 * tools use (zip cannot store earlier dates).
 */
export const BUNDLE_MTIME = new Date('1980-01-01T00:00:00Z');

/**
 * Largest bundle file read, and largest total of its unpacked files. A bundled JS plugin is a
 * few MB and a Go binary tens of MB; the limit keeps a bundle (or a decompression bomb) from
 * taking the host's memory or disk.
 */
export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

/** Most entries in one bundle (a bundle of a node_modules tree is not what bundles are for). */
export const MAX_BUNDLE_ENTRIES = 10_000;

/**
 * Packs a plugin directory into a bundle: a gzipped tar with plugin.json and, for JS and
 * TypeScript plugins, the entry bundled with everything it imports into one `plugin.mjs`
 * (so the bundle needs no install); for a command entry, the directory as it is (symlinks
 * replaced by what they point to). Entries are sorted, owned by uid/gid 0 and dated
 * BUNDLE_MTIME, so the same folder gives the same sha256.
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
  await mkdir(stage, { recursive: true, mode: PRIVATE_DIR_MODE });
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
        dereference: true,
        filter: (src) =>
          !/(?:^|\/)(?:\.git|node_modules)(?:\/|$)/.test(relative(prepared.dir, src)),
      });
    }
    await writeFile(join(stage, MANIFEST_FILE), `${JSON.stringify(raw, null, 2)}\n`);
    await mkdir(outDir, { recursive: true });
    const file = join(outDir, `${m.name}-${m.version}.plugwire.tgz`);
    await tar.create(
      {
        gzip: true,
        file,
        cwd: stage,
        portable: true,
        mtime: BUNDLE_MTIME,
        // Every entry listed, in order: the archive does not follow readdir's order.
        noDirRecurse: true,
      },
      await sortedTree(stage),
    );
    return { file, sha256: await sha256File(file), manifest: m };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Every path under `dir`, relative, sorted, directories before what they hold. */
async function sortedTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if ((await lstat(join(dir, r))).isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** One file or directory of a bundle, read in memory. */
interface BundleEntry {
  type: 'file' | 'dir';
  /** Permission bits, owner-writable at most for the group and others: 0o755 or 0o644. */
  mode: number;
  data: Buffer;
}

/**
 * Reads a bundle's tar entries in memory. Only regular files and directories with relative
 * paths inside the bundle are accepted (no links, devices, `..` or absolute paths).
 */
export async function readBundle(
  bytes: Buffer,
  file: string,
  plugin?: string,
): Promise<Map<string, BundleEntry>> {
  const entries = new Map<string, BundleEntry>();
  let total = 0;
  let problem: ArchiveError | undefined;
  const fail = (why: string, entry?: string) => {
    problem ??= new ArchiveError(file, `${entry ? `entry "${entry}": ` : ''}${why}`, {
      plugin,
      file: entry,
    });
  };
  await new Promise<void>((resolveRead) => {
    const parser = new tar.Parser({
      strict: true,
      onReadEntry(entry) {
        const path = normalize(entry.path).replace(/\/$/, '');
        if (
          path === '' ||
          path === '.' ||
          path.startsWith(`..${sep}`) ||
          path === '..' ||
          path.startsWith(sep)
        ) {
          fail('has a path outside the bundle', entry.path);
        } else if (entries.size >= MAX_BUNDLE_ENTRIES) {
          fail(`holds more than ${MAX_BUNDLE_ENTRIES} entries`);
        } else if (entry.type === 'Directory') {
          entries.set(path, { type: 'dir', mode: 0o755, data: Buffer.alloc(0) });
        } else if (entry.type === 'File' || entry.type === 'OldFile') {
          total += entry.size;
          if (total > MAX_BUNDLE_BYTES) fail(`unpacks to more than ${MAX_BUNDLE_BYTES} bytes`);
          else {
            const chunks: Buffer[] = [];
            entry.on('data', (c: Buffer) => chunks.push(c));
            entry.on('end', () => {
              const exec = ((entry.mode ?? 0o644) & 0o111) !== 0;
              entries.set(path, {
                type: 'file',
                mode: exec ? 0o755 : 0o644,
                data: Buffer.concat(chunks),
              });
            });
            return;
          }
        } else {
          fail(`is a ${entry.type}; a bundle holds only files and directories`, entry.path);
        }
        entry.resume();
      },
    });
    parser.on('error', (err: Error & { code?: string }) => {
      fail(`is not a gzipped tar made by \`plugwire pack\` (${err.code ?? err.message})`);
      resolveRead();
    });
    parser.on('warn', (code: string, message: string) => {
      fail(`is not a gzipped tar made by \`plugwire pack\` (${code}: ${message})`);
    });
    parser.on('end', () => resolveRead());
    parser.end(bytes);
  });
  if (problem) throw problem;
  if (!entries.has(MANIFEST_FILE)) fail(`has no ${MANIFEST_FILE} at its top`);
  if (problem) throw problem;
  return entries;
}

/** Writes bundle entries into `dir`. */
async function writeEntries(dir: string, entries: Map<string, BundleEntry>): Promise<void> {
  for (const [path, e] of [...entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const target = join(dir, path);
    if (e.type === 'dir') await mkdir(target, { recursive: true, mode: PRIVATE_DIR_MODE });
    else {
      await mkdir(dirname(target), { recursive: true, mode: PRIVATE_DIR_MODE });
      await writeFile(target, e.data, { mode: e.mode });
    }
  }
}

/**
 * Checks a bundle's sha256, then runs it from `<cache>/bundles/<sha256>`: written there on
 * the first load, and on every later load compared file by file with the verified bytes (a
 * copy changed since, by anything, is written again).
 */
export async function unpackBundle(
  file: string,
  expected: string,
  ctx: SourceContext,
  o: PrepareOptions = {},
): Promise<PreparedPlugin> {
  if (!/^[0-9a-f]{64}$/.test(expected)) {
    throw new SourceError(file, `"sha256" must be 64 hex digits (got "${expected}")`, {
      plugin: o.plugin,
    });
  }
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    throw new SourceError(file, 'no such bundle file', { plugin: o.plugin });
  }
  if (size > MAX_BUNDLE_BYTES) {
    throw new ArchiveError(file, `is ${size} bytes, more than ${MAX_BUNDLE_BYTES}`, {
      plugin: o.plugin,
    });
  }
  // Hash and unpack the same bytes: the file cannot change between the check and the use.
  const bytes = await readFile(file);
  const actual = sha256(bytes);
  if (actual !== expected) throw new IntegrityError(file, expected, actual, o.plugin);
  const entries = await readBundle(bytes, file, o.plugin);
  // What the verified bundle holds, by file ('' for a folder).
  const hashes = new Map<string, string>();
  for (const [path, e] of entries) hashes.set(path, e.type === 'file' ? sha256(e.data) : '');
  const dir = join(ctx.cacheDir, 'bundles', actual);
  let cached = await fillOnce(dir, (tmp) => writeEntries(tmp, entries));
  if (cached && (await changedSince(dir, hashes))) {
    await rm(dir, { recursive: true, force: true });
    cached = await fillOnce(dir, (tmp) => writeEntries(tmp, entries));
  }
  const prepared = await prepareDir(
    dir,
    { kind: 'bundle', spec: file, resolved: actual, cached },
    ctx,
    o,
  );
  // Checked again before every start, so a copy changed after this load (the process may
  // start much later) never runs.
  const plugin = o.plugin ?? prepared.manifest.name;
  return {
    ...prepared,
    verify: async () => {
      const changed = await changedSince(dir, hashes);
      if (changed) {
        throw new IntegrityError(
          file,
          actual,
          `a changed copy (${changed})`,
          plugin,
          `the copy of the bundle in ${dir} changed after it was checked (${changed}); load the bundle again`,
        );
      }
    },
  };
}

/**
 * The first difference between `dir` and the bundle's files by sha256 (a changed, missing or
 * added file, a link), or undefined when `dir` holds exactly the bundle.
 */
async function changedSince(dir: string, hashes: Map<string, string>): Promise<string | undefined> {
  const seen = new Set<string>();
  const walk = async (rel: string): Promise<string | undefined> => {
    for (const n of await readdir(join(dir, rel))) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await lstat(join(dir, r));
      const h = hashes.get(r);
      if (h === undefined) return `${r} is not in the bundle`;
      seen.add(r);
      if (st.isDirectory() && h === '') {
        const d = await walk(r);
        if (d) return d;
      } else if (!st.isFile() || h === '') return `${r} is not what the bundle holds`;
      else if (sha256(await readFile(join(dir, r))) !== h) return `${r} was changed`;
    }
    return undefined;
  };
  try {
    const d = await walk('');
    if (d) return d;
  } catch (err) {
    return (err as Error).message;
  }
  for (const [p, h] of hashes) if (h !== '' && !seen.has(p)) return `${p} is missing`;
  return undefined;
}
