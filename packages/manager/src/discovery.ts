// Discovery and version choice: which folders of the plugin directories hold plugins, and
// which of several folders holding one plugin name is loaded (the highest version that
// satisfies the host's range).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { VersionMismatchError } from './errors.js';
import { MANIFEST_FILE, type Manifest, readManifest } from './manifest.js';

/** A folder that may hold a plugin, with its manifest once read. */
export interface Candidate {
  dir: string;
  manifest: Manifest;
}

/**
 * The plugin folders of `dirs`: a directory with a plugin.json is one plugin, otherwise each
 * sub-folder (but hidden ones and node_modules) is a candidate. Unreadable dirs are reported
 * through `warn` and skipped.
 */
export function pluginFolders(dirs: readonly string[], warn: (err: Error) => void): string[] {
  const out: string[] = [];
  for (const dir of dirs) {
    if (existsSync(join(dir, MANIFEST_FILE))) {
      out.push(dir);
      continue;
    }
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (err) {
      warn(new Error(`plugin directory ${dir} cannot be read: ${(err as Error).message}`));
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

/**
 * Reads the manifests of `folders`, grouped by plugin name; a folder whose manifest cannot be
 * read goes to `errors`.
 */
export function readCandidates(
  folders: readonly string[],
  errors: Array<{ where: string; error: Error }>,
): Map<string, Candidate[]> {
  const found = new Map<string, Candidate[]>();
  for (const dir of folders) {
    try {
      const manifest = readManifest(dir);
      const list = found.get(manifest.name) ?? [];
      list.push({ dir, manifest });
      found.set(manifest.name, list);
    } catch (err) {
      errors.push({ where: dir, error: err as Error });
    }
  }
  return found;
}

/** The candidate with the highest version within `range`; VersionMismatchError when none. */
export function chooseVersion(
  name: string,
  candidates: readonly Candidate[],
  range: string | undefined,
): Candidate {
  const versions = candidates.map((c) => c.manifest.version);
  const best = semver.maxSatisfying(versions, range ?? '*', { includePrerelease: true });
  if (!best) throw new VersionMismatchError(name, range ?? '*', versions);
  return candidates.find((c) => c.manifest.version === best)!;
}

/** Whether `version` satisfies `range` (prereleases included); no range always does. */
export function satisfies(version: string, range: string | undefined): boolean {
  return !range || semver.satisfies(version, range, { includePrerelease: true });
}
