// What runs: a plugin directory's manifest turned into a command line, with the entry
// confined to the directory, and a fingerprint that changes when what would run changes.
import {
  constants,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { access } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { compileEntry } from './build.js';
import { sha256 } from './cache.js';
import { EntryOutsideError, ManifestError } from './errors.js';
import { isTypeScript, MANIFEST_FILE, readManifest } from './manifest.js';
import type { Origin, PreparedPlugin, PrepareOptions, SourceContext } from './sources.js';

/**
 * The real path of `file` when it lies inside the real path of `dir`, else undefined. Real
 * paths on both sides: a symlink in the folder that points out of it is outside.
 */
function realInside(dir: string, file: string): string | undefined {
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    return undefined;
  }
  const root = realpathSync(dir);
  const rel = relative(root, real);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel)
    ? real
    : undefined;
}

/** A plugin directory as it is: reads its manifest and works out the command. */
export async function prepareDir(
  dir: string,
  origin: Omit<Origin, 'build'>,
  ctx: SourceContext,
  o: PrepareOptions = {},
): Promise<PreparedPlugin> {
  const manifest = readManifest(dir);
  const manifestFile = join(dir, MANIFEST_FILE);
  const manifestText = readFileSync(manifestFile, 'utf8');
  const name = manifest.name;
  const entry = manifest.entry;
  let command: string;
  let args: string[];
  let build: Origin['build'];
  let fingerprint: string;
  if (entry.kind === 'node') {
    const file = resolve(dir, entry.file);
    if (!existsSync(file)) {
      const skipped = o.buildSkipped?.(dir)
        ? ' (its build script was not run: scripts run only with "allowScripts": true in the plugin\'s settings)'
        : isTypeScript(entry.file)
          ? ''
          : ' (not built yet?)';
      throw new ManifestError(
        manifestFile,
        'entry',
        `names ${entry.file}, which does not exist in ${dir}${skipped}`,
        { plugin: name },
      );
    }
    const real = realInside(dir, file);
    if (!real) {
      throw new EntryOutsideError(
        manifestFile,
        'entry',
        `names ${entry.file}, which leads out of the plugin directory ${dir} (a symlink?); the entry must be a file inside it`,
        name,
      );
    }
    if (isTypeScript(entry.file)) {
      const b = await compileEntry({ dir, entry: entry.file, name, cacheDir: ctx.cacheDir });
      build = { outFile: b.outFile, rebuilt: b.rebuilt };
      command = process.execPath;
      args = ['--enable-source-maps', b.outFile];
      fingerprint = sha256(`${manifestText}\0${b.key}`);
    } else {
      command = process.execPath;
      // The real file: a symlink changed after this check does not change what runs.
      args = [real];
      fingerprint = sha256(`${manifestText}\0${treeStamp(dir)}`);
    }
  } else {
    command = entry.command;
    if (entry.command.includes('/')) {
      const field = 'entry.command';
      if (isAbsolute(entry.command)) {
        throw new EntryOutsideError(
          manifestFile,
          field,
          `is the absolute path ${entry.command}: a command is a file in the plugin directory ("bin/plugin") or a program name looked up on PATH ("python3")`,
          name,
        );
      }
      const path = resolve(dir, entry.command);
      if (!existsSync(path)) {
        throw new ManifestError(manifestFile, field, `${entry.command} does not exist in ${dir}`, {
          plugin: name,
        });
      }
      const real = realInside(dir, path);
      if (!real || !statSync(real).isFile()) {
        throw new EntryOutsideError(
          manifestFile,
          field,
          `${entry.command} leads out of the plugin directory ${dir} (through ".." or a symlink); a command path must name a file inside it`,
          name,
        );
      }
      try {
        await access(real, constants.X_OK);
      } catch {
        throw new ManifestError(
          manifestFile,
          field,
          `${entry.command} is not executable (chmod +x it)`,
          { plugin: name },
        );
      }
      command = real;
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
      // lstat: a symlink is stamped as the link it is, never followed (a link to `..`
      // would walk forever).
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) parts.push(`${relative(dir, p)}->${readlinkSync(p)}`);
      else parts.push(`${relative(dir, p)}:${st.size}:${st.mtimeMs}`);
    }
  };
  walk(dir);
  return sha256(parts.join('\n'));
}
