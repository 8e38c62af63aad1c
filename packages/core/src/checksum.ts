import { createHash, getHashes, timingSafeEqual } from 'node:crypto';
import { accessSync, constants, createReadStream } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
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
