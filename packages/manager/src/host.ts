// Where a running host's control plane listens, so that a `plugwire` command in another
// terminal finds it: a unix socket next to the first plugin directory. Both sides (the
// server in @plugwire/control and the CLI's client here) compute it with this function.
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** Names the host to talk to: a unix socket path, or `http://127.0.0.1:PORT`. */
export const CONTROL_HOST_ENV = 'PLUGWIRE_HOST';
/** The bearer token for a host reached over TCP (else read from the token file). */
export const CONTROL_TOKEN_ENV = 'PLUGWIRE_TOKEN';

// sun_path holds 108 bytes on Linux (104 on macOS) including the NUL; a longer path cannot
// be bound, so such a folder's socket goes to the temp dir under a name derived from it.
const MAX_SOCKET_PATH = 100;

/**
 * The control socket of a host whose (first) plugin directory is `pluginDir`:
 * `<parent>/.<folder>.plugwire.sock`, e.g. `./.plugins.plugwire.sock` for `./plugins`.
 */
export function controlSocketPath(pluginDir: string): string {
  const dir = resolve(pluginDir);
  const next = join(dirname(dir), `.${basename(dir)}.plugwire.sock`);
  if (Buffer.byteLength(next) <= MAX_SOCKET_PATH) return next;
  const hash = createHash('sha256').update(dir).digest('hex').slice(0, 16);
  return join(tmpdir(), `plugwire-${hash}.sock`);
}
