// The directory the host makes for one plugin's unix socket, and the only paths the host ever
// removes. The handshake's address comes from the plugin: removing "whatever it named" let a
// plugin delete any file of the host's user (issue #13, item 2). So the host makes a private
// directory, gives it to the plugin (PLUGIN_UNIX_SOCKET_DIR, as go-plugin's client does),
// accepts a socket only inside it, and afterwards removes only that directory and the
// entries the protocol puts there.
import { chmodSync, chownSync, lstatSync, mkdtempSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, relative, sep } from 'node:path';
import { groupId } from './socket.js';

/** Prefix of the directory the host makes; the plugin's own directory inside uses it too. */
export const HOST_SOCKET_DIR_PREFIX = 'plugwire-';

/** sun_path is 108 bytes on Linux and 104 on macOS/BSD, including the terminating NUL. */
const MAX_SOCKET_PATH = 103;

/**
 * What the plugin appends to our directory: a plugwire plugin makes its own
 * `plugwire-XXXXXX/plugin.sock` inside (go-plugin makes `pluginNNNNNNNNN`).
 */
const PLUGIN_PART = `/${HOST_SOCKET_DIR_PREFIX}XXXXXX/plugin.sock`;

/**
 * A private directory (mode 0700) for one plugin's socket, under `unixSocketDir` or, when
 * that would make the socket path too long for the platform, the system's temporary
 * directory.
 */
export class HostSocketDir {
  readonly path: string;
  // Who it is, so that removal acts on this directory and not on whatever a plugin of the
  // same user renamed into its place (a link to /etc, say) in the meantime.
  readonly #dev: number;
  readonly #ino: number;

  private constructor(path: string, dev: number, ino: number) {
    this.path = path;
    this.#dev = dev;
    this.#ino = ino;
  }

  /**
   * Makes the directory for a plugin this host starts. With a socket group, members of the
   * group may traverse it (0750) to reach the socket the plugin shares with them.
   */
  static create(base: string | undefined, group?: string): HostSocketDir {
    // Looked up first: an unknown group must not leave a directory behind.
    let gid: number | undefined;
    if (group) {
      try {
        gid = groupId(group);
      } catch (err) {
        throw new RangeError(`unixSocketGroup: ${(err as Error).message}`);
      }
    }
    const candidates = [base, tmpdir(), '/tmp'].filter((b): b is string => !!b);
    for (const b of candidates) {
      const path = join(b, `${HOST_SOCKET_DIR_PREFIX}XXXXXX`) + PLUGIN_PART;
      if (Buffer.byteLength(path) > MAX_SOCKET_PATH) continue;
      const dir = mkdtempSync(join(b, HOST_SOCKET_DIR_PREFIX));
      if (gid !== undefined) {
        chownSync(dir, -1, gid);
        chmodSync(dir, 0o750);
      } else {
        chmodSync(dir, 0o700);
      }
      const st = lstatSync(dir);
      return new HostSocketDir(dir, st.dev, st.ino);
    }
    throw new RangeError(
      `no directory for the plugin socket gives a path under ${MAX_SOCKET_PATH} bytes (tried ${candidates.join(', ')})`,
    );
  }

  /**
   * The directory a reattach record names, made by the host that started the plugin: only a
   * real `plugwire-*` directory of this user qualifies, else there is nothing to remove.
   */
  static adopt(path: string | undefined): HostSocketDir | undefined {
    if (!path || !isAbsolute(path) || !basename(path).startsWith(HOST_SOCKET_DIR_PREFIX)) {
      return undefined;
    }
    const st = lstatOrUndefined(path);
    if (!st?.isDirectory() || (process.getuid && st.uid !== process.getuid())) return undefined;
    return new HostSocketDir(path, st.dev, st.ino);
  }

  /**
   * True when `address` is a socket path the protocol allows inside this directory: in it,
   * or in a real directory (not a link) in it.
   */
  contains(address: string): boolean {
    return this.#parts(address) !== undefined;
  }

  /** The parts of `address` below this directory, never through a link. */
  #parts(address: string | undefined): string[] | undefined {
    const parts = address ? partsInside(this.path, address) : undefined;
    if (parts?.length === 2 && !lstatOrUndefined(join(this.path, parts[0]!))?.isDirectory()) {
      return undefined; // a link to elsewhere (another plugin's socket dir, say)
    }
    return parts;
  }

  /**
   * Removes this directory, and in it only the socket the plugin announced and that
   * socket's own directory: never following a link, never recursively. Whatever else a
   * plugin leaves there stays, with the directory. Returns false when something was left.
   */
  remove(address: string | undefined): boolean {
    const st = lstatOrUndefined(this.path);
    if (!st) return true;
    if (!st.isDirectory() || st.dev !== this.#dev || st.ino !== this.#ino) return false;
    const parts = this.#parts(address);
    if (parts) {
      const socket = join(this.path, ...parts);
      if (lstatOrUndefined(socket)?.isSocket()) tryRemove(() => unlinkSync(socket));
      if (parts.length === 2) {
        const sub = join(this.path, parts[0]!);
        if (lstatOrUndefined(sub)?.isDirectory()) tryRemove(() => rmdirSync(sub));
      }
    }
    return tryRemove(() => rmdirSync(this.path));
  }
}

/**
 * The parts of `address` below `dir`: one part (a socket directly in it) or two (the
 * plugin's own directory, then its socket). Anything else, `..` included, is outside.
 */
export function partsInside(dir: string, address: string): string[] | undefined {
  if (!isAbsolute(address)) return undefined;
  const rel = relative(dir, address);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  const parts = rel.split(sep);
  if (parts.length > 2 || parts.some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return parts;
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function tryRemove(remove: () => void): boolean {
  try {
    remove();
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
