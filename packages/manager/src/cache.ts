// The cache: compiled TypeScript, installed packages, git checkouts and unpacked bundles, each
// under a key that changes when what it holds would change.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SourceError } from './errors.js';

/** `$PLUGWIRE_CACHE_DIR`, else `$XDG_CACHE_HOME/plugwire`, else `~/.cache/plugwire`. */
export function defaultCacheDir(): string {
  if (process.env.PLUGWIRE_CACHE_DIR) return process.env.PLUGWIRE_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'plugwire');
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(file: string): Promise<string> {
  return sha256(await readFile(file));
}

/** A short stable key (16 hex digits) for a string. */
export function shortKey(s: string): string {
  return sha256(s).slice(0, 16);
}

/**
 * Fills cache directory `dir` once: `fill` writes into a fresh temporary sibling, which is
 * then renamed into place, so a half-filled entry (a failed npm install, a crash) is never
 * taken for a complete one. Returns true when `dir` was already there.
 */
export async function fillOnce(
  dir: string,
  fill: (tmp: string) => Promise<void>,
): Promise<boolean> {
  if (existsSync(dir)) return true;
  await mkdir(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    // Someone else filled it meanwhile (two loads of one source): theirs is as good.
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(dir)) return true;
    throw err;
  }
  return false;
}

/**
 * Runs a program (git, npm) to completion and returns its stdout; a failure becomes a
 * SourceError that quotes the command and the end of its stderr.
 */
export function runTool(
  source: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (!err) {
          resolve(stdout);
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: number | string };
        const tail = String(stderr || stdout || '')
          .trim()
          .split('\n')
          .slice(-12)
          .join('\n  ');
        const why =
          e.code === 'ENOENT'
            ? `"${command}" was not found on PATH; install it to use this kind of source`
            : `\`${command} ${args.join(' ')}\` failed${tail ? `:\n  ${tail}` : ` (${e.message})`}`;
        reject(new SourceError(source, why, { cause: err }));
      },
    );
  });
}
