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

/**
 * Hex digits of a cache key: 64 bits, so that two of a cache's entries (thousands at most)
 * colliding is out of the question, while paths stay short.
 */
export const KEY_HEX_DIGITS = 16;

/** A short stable key for a string. */
export function shortKey(s: string): string {
  return sha256(s).slice(0, KEY_HEX_DIGITS);
}

/** Directories the cache makes: readable and writable by the host's user only. */
export const PRIVATE_DIR_MODE = 0o700;

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
  // Owner-only: another local user must not change what the host will run.
  await mkdir(dirname(dir), { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true, mode: PRIVATE_DIR_MODE });
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
 * Longest run of one tool (a clone, an install, a build). Installing a plugin with a few
 * dependencies takes seconds; a registry or remote that stalls must not hold a load forever.
 */
export const TOOL_TIMEOUT_MS = 10 * 60_000;

/** Most of a tool's output kept (its stdout is read whole: `git ls-remote` of a large repo). */
const TOOL_MAX_OUTPUT = 64 * 1024 * 1024;

/** Lines of a failed tool's stderr quoted in the error. */
const TOOL_ERROR_LINES = 12;

/**
 * Runs a program (git, npm) to completion and returns its stdout; a failure becomes a
 * SourceError that quotes the command and the end of its stderr.
 */
export function runTool(
  source: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; plugin?: string | undefined } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        maxBuffer: TOOL_MAX_OUTPUT,
        timeout: TOOL_TIMEOUT_MS,
        killSignal: 'SIGKILL',
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
          .slice(-TOOL_ERROR_LINES)
          .join('\n  ');
        const killed = (err as { killed?: boolean }).killed;
        const why =
          e.code === 'ENOENT'
            ? `"${command}" was not found on PATH; install it to use this kind of source`
            : `\`${command} ${args.join(' ')}\` ${killed ? `did not finish within ${TOOL_TIMEOUT_MS} ms` : 'failed'}${tail ? `:\n  ${tail}` : ` (${e.message})`}`;
        reject(new SourceError(source, why, { cause: err, plugin: options.plugin }));
      },
    );
  });
}
