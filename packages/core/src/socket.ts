import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * The longest unix socket path that works everywhere: sun_path is 108 bytes on Linux and
 * 104 on macOS/BSD, including the terminating NUL.
 */
export const MAX_SOCKET_PATH = 103;

/** Prefix of the socket directories plugins create; the host removes only such dirs. */
export const SOCKET_DIR_PREFIX = 'plugwire-';

export interface Listener {
  server: Server;
  network: 'unix' | 'tcp';
  /** The socket path, or `127.0.0.1:port`. */
  address: string;
  /** Closes the server and removes the socket directory. Idempotent. */
  close(): void;
}

export interface ListenOptions {
  network: 'unix' | 'tcp';
  /** Parent directory for the unix socket's private directory. @default os.tmpdir() */
  socketDir?: string | undefined;
  /** Group name or gid to own the socket (mode 0660 instead of 0600). */
  socketGroup?: string | undefined;
  minPort?: number | undefined;
  maxPort?: number | undefined;
}

/**
 * Creates the listener a plugin serves on. unix: a fresh directory (mode 0700) holding
 * `plugin.sock` (mode 0600), so only the plugin's user can connect; when the directory
 * would make the path too long for the platform, a shorter base is chosen instead of
 * failing with EINVAL. tcp: 127.0.0.1 only, within the port range when given.
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  return options.network === 'tcp' ? listenTcp(options) : listenUnix(options);
}

async function listenUnix(options: ListenOptions): Promise<Listener> {
  const dir = makeSocketDir(options.socketDir);
  const path = join(dir, 'plugin.sock');
  const server = createServer();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    server.close();
    removeSocketDir(path);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    if (options.socketGroup) {
      chownSync(path, -1, groupId(options.socketGroup));
      chmodSync(path, 0o660);
      chmodSync(dir, 0o750);
      chownSync(dir, -1, groupId(options.socketGroup));
    } else {
      chmodSync(path, 0o600);
    }
  } catch (err) {
    close();
    throw err;
  }
  return { server, network: 'unix', address: path, close };
}

function makeSocketDir(base: string | undefined): string {
  const candidates = [base, tmpdir(), '/tmp'].filter((b): b is string => !!b);
  for (const b of candidates) {
    // mkdtemp adds 6 characters; then "/plugin.sock"
    if (Buffer.byteLength(join(b, `${SOCKET_DIR_PREFIX}XXXXXX`, 'plugin.sock')) > MAX_SOCKET_PATH) {
      continue;
    }
    const dir = mkdtempSync(join(b, SOCKET_DIR_PREFIX));
    chmodSync(dir, 0o700);
    return dir;
  }
  throw new Error(
    `no directory for the plugin socket gives a path under ${MAX_SOCKET_PATH} bytes (tried ${candidates.join(', ')})`,
  );
}

/** Removes a socket and its plugwire directory; leaves any other directory alone. */
export function removeSocketDir(socketPath: string): void {
  const dir = dirname(socketPath);
  if (!basename(dir).startsWith(SOCKET_DIR_PREFIX)) {
    rmSync(socketPath, { force: true });
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}

/** A group name or gid as a gid. */
export function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid) return Number(gid);
  }
  throw new Error(`unknown group "${group}" for the plugin socket`);
}

async function listenTcp(options: ListenOptions): Promise<Listener> {
  const min = options.minPort ?? 0;
  const max = options.maxPort ?? 0;
  const ports: number[] = [];
  if (min > 0 && max >= min) {
    // start at a random port of the range so concurrent plugins rarely race for one
    const span = max - min + 1;
    const first = Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) ports.push(min + ((first + i) % span));
  } else {
    ports.push(0);
  }
  let lastError: unknown;
  for (const port of ports) {
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      lastError = err;
      server.close();
      continue;
    }
    const addr = server.address();
    const address = typeof addr === 'object' && addr ? `127.0.0.1:${addr.port}` : String(addr);
    let closed = false;
    return {
      server,
      network: 'tcp',
      address,
      close: () => {
        if (closed) return;
        closed = true;
        server.close();
      },
    };
  }
  throw new Error(`no free tcp port in ${min}-${max}`, { cause: lastError });
}
