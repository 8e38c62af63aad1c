import { createHash, getHashes, timingSafeEqual } from 'node:crypto';
import { accessSync, constants, createReadStream } from 'node:fs';
import { basename, delimiter, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { PlugwireError } from './errors.js';

/** Which file must have which hash before the plugin may start. */
export interface ChecksumConfig {
  /** The expected digest, hex. */
  hash: string;
  /** Any hash `node:crypto` knows. @default 'sha256' */
  algorithm?: string;
  /**
   * The file to hash. Defaults to the plugin's entry: for `node script.js` (command is the
   * Node executable) the script, otherwise the command itself.
   */
  file?: string;
}

/** The plugin file does not have the expected hash; the plugin was not started. */
export class ChecksumMismatchError extends PlugwireError {
  readonly file: string;
  readonly expected: string;
  readonly actual: string;
  constructor(file: string, algorithm: string, expected: string, actual: string) {
    super(
      'PLUGWIRE_CHECKSUM_MISMATCH',
      `${file} has ${algorithm} ${actual}, expected ${expected}: the plugin was not started`,
    );
    this.file = file;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Hashes `file` and compares with the expected digest in constant time. Throws
 * ChecksumMismatchError (or the read error) so the caller never starts the process.
 */
export async function verifyChecksum(file: string, config: ChecksumConfig): Promise<void> {
  const algorithm = config.algorithm ?? 'sha256';
  if (!getHashes().includes(algorithm))
    throw new TypeError(`unknown hash algorithm "${algorithm}"`);
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const actual = hash.digest();
  const expectedHex = config.hash.trim().toLowerCase();
  const expected = /^[0-9a-f]*$/.test(expectedHex)
    ? Buffer.from(expectedHex, 'hex')
    : Buffer.alloc(0);
  // timingSafeEqual needs equal lengths. A digest of the wrong length is a mismatch; it is
  // still compared (against itself) so that the time taken does not depend on the input.
  const sameLength = expected.length === actual.length;
  const same = timingSafeEqual(sameLength ? expected : actual, actual) && sameLength;
  if (!same) throw new ChecksumMismatchError(file, algorithm, expectedHex, actual.toString('hex'));
}

/** Finds `command` on PATH the way spawn would (an absolute or relative path is kept). */
export function resolveCommand(command: string): string {
  if (isAbsolute(command) || command.includes('/')) return command;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return command;
}

/**
 * A checksum was asked for, but the command line would make Node load code the checksum
 * does not cover (`--require x.js`, `--import`, `--loader`, `--eval`, `NODE_OPTIONS`…), or
 * which argument is the script cannot be told. The plugin was not started.
 */
export class ChecksumCoverageError extends PlugwireError {
  /** The argument (or environment variable) at fault. */
  readonly argument: string;
  constructor(argument: string, problem: string) {
    super('PLUGWIRE_CHECKSUM_COVERAGE', `checksum: ${problem}: the plugin was not started`);
    this.argument = argument;
  }
}

/**
 * Node options that load or run code besides the script (or let another process inject it:
 * the inspector), so a checksum of the script alone would not cover what runs.
 */
const CODE_LOADING_FLAGS = new Set([
  '--require',
  '--import',
  '--loader',
  '--experimental-loader',
  '--eval',
  '--print',
  '--interactive',
  '--env-file',
  '--experimental-policy',
  '--openssl-config',
  '--snapshot-blob',
  '--build-snapshot',
  '--experimental-sea-config',
  '--watch',
  '--watch-path',
  '--test',
  '--inspect',
  '--inspect-brk',
  '--inspect-port',
  '--debug-port',
  '--experimental-network-imports',
]);

/**
 * Node options that take no value. A flag before the script that is not one of these and
 * has no `=value` might take the script's place as its value (`--title pre evil.js` runs
 * evil.js): such a command line is refused rather than guessed.
 */
const BOOLEAN_FLAGS = new Set([
  '--enable-source-maps',
  '--no-warnings',
  '--no-deprecation',
  '--throw-deprecation',
  '--pending-deprecation',
  '--trace-warnings',
  '--trace-deprecation',
  '--trace-uncaught',
  '--trace-exit',
  '--trace-sigint',
  '--expose-gc',
  '--abort-on-uncaught-exception',
  '--preserve-symlinks',
  '--preserve-symlinks-main',
  '--frozen-intrinsics',
  '--no-experimental-fetch',
  '--no-experimental-global-webcrypto',
  '--experimental-vm-modules',
  '--experimental-detect-module',
  '--no-addons',
  '--disallow-code-generation-from-strings',
]);

/** True when `command` is Node (this process's executable, or `node` by name). */
export function isNodeCommand(command: string): boolean {
  return command === process.execPath || /^node(\.exe)?$/.test(basename(command));
}

/**
 * The file a checksum covers: `file` when given; for Node, the script of the command line,
 * after refusing options that load other code; otherwise the command itself (on PATH).
 * `env` is the plugin's own environment: a NODE_OPTIONS there is checked like the args.
 */
export function checksumTarget(o: {
  command: string;
  args: readonly string[];
  cwd: string | undefined;
  env: Record<string, string | undefined> | undefined;
  file: string | undefined;
}): string {
  const cwd = o.cwd ?? '.';
  if (o.file) return resolvePath(cwd, o.file);
  if (!isNodeCommand(o.command)) return resolvePath(cwd, resolveCommand(o.command));
  const nodeOptions = o.env?.NODE_OPTIONS;
  if (nodeOptions) {
    for (const flag of nodeOptions.split(/\s+/)) {
      if (CODE_LOADING_FLAGS.has(flag.split('=')[0]!) || /^-[a-z]/i.test(flag)) {
        throw new ChecksumCoverageError(
          'NODE_OPTIONS',
          `the plugin's NODE_OPTIONS has ${flag}, which loads code the checksum does not cover`,
        );
      }
    }
  }
  const args = o.args;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      const script = args[i + 1];
      if (script === undefined) break;
      return resolvePath(cwd, script);
    }
    if (a === '-') {
      throw new ChecksumCoverageError(a, 'node would read the script from stdin');
    }
    if (a.startsWith('--')) {
      if (CODE_LOADING_FLAGS.has(a.split('=')[0]!)) {
        throw new ChecksumCoverageError(
          a,
          `node's ${a.split('=')[0]} loads code the checksum does not cover; bundle that code into the script`,
        );
      }
      continue;
    }
    if (a.startsWith('-')) {
      throw new ChecksumCoverageError(
        a,
        `short node option ${a} (-r, -e, -p, -i load code): write options in their long form`,
      );
    }
    const prev = args[i - 1];
    if (prev?.startsWith('--') && !prev.includes('=') && !BOOLEAN_FLAGS.has(prev)) {
      throw new ChecksumCoverageError(
        prev,
        `node option ${prev} may take "${a}" as its value, so which argument is the script is unclear: write ${prev}=<value>`,
      );
    }
    return resolvePath(cwd, a);
  }
  throw new TypeError('checksum: no script among the args of node');
}
