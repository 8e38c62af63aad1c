// Shared helpers of the end-to-end tests: fixture paths, the calc client, the cookie, and
// (from test/support, shared with the packages' unit tests) the leak check that every test
// file installs, the waits with deadlines and the seeded PRNG.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginClient, type PluginClientOptions } from '@plugwire/core';

export { checkLeaks, childPids, eventually, isAlive, within } from './support/leaks.js';
export { prng } from './support/prng.js';

/**
 * The environment a plugwire plugin needs to serve when a test starts it without a
 * PluginClient: the default magic cookie (core's DEFAULT_MAGIC_COOKIE, which the Go
 * example plugin carries too).
 */
export const COOKIE_ENV = {
  PLUGWIRE_MAGIC_COOKIE: 'b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41',
} as const;

const here = fileURLToPath(new URL('.', import.meta.url));

/** The built JS of a fixture plugin (test/fixtures/<name>.ts). */
export function fixture(name: string): string {
  return join(here, 'fixtures', 'dist', `${name}.js`);
}

/** A client of the calc fixture plugin (raw RPC peer), with its socket in `socketDir`. */
export function calcClient(
  socketDir: string,
  extra: Partial<PluginClientOptions> = {},
): PluginClient {
  return new PluginClient({
    command: process.execPath,
    args: [fixture('calc-plugin')],
    plugins: { calc: {} },
    unixSocketDir: socketDir,
    ...extra,
  });
}
