// Node's permission model for JS plugins: the flag differs by version, and what the runtime
// itself needs (the plugin's folder, its socket directory) is granted with what was asked.
import { realpathSync } from 'node:fs';
import { basename, resolve } from 'node:path';

/** The permission model's flag for this Node, or undefined when it has none. */
export function permissionFlag(version = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 13)) return '--permission';
  if (major >= 20) return '--experimental-permission';
  return undefined;
}

/** True when `command` is a Node executable (the sandbox may then add Node flags). */
export function isNode(command: string): boolean {
  return command === process.execPath || /^node(\.exe)?$/.test(basename(command));
}

/** What a JS plugin may touch besides what the sandbox grants by itself. */
export interface NodePermissions {
  read: readonly string[];
  write: readonly string[];
  childProcess: boolean;
  worker: boolean;
}

/** The flags for one start; `socketDir` is known only then. */
export function permissionArgs(p: NodePermissions, socketDir: string | undefined): string[] {
  const flag = permissionFlag()!;
  const read = [...p.read];
  const write = [...p.write];
  if (socketDir) {
    read.push(socketDir);
    write.push(socketDir);
  }
  const out = [flag];
  // One flag per path: Node 20.20 and later refuse a comma-separated list, and a trailing
  // slash or a comma would change what is granted.
  const list = (name: string, paths: string[]) => {
    for (const r of new Set(paths.map(realOrSelf))) out.push(`${name}=${r}`);
  };
  list('--allow-fs-read', read);
  list('--allow-fs-write', write);
  if (p.childProcess) out.push('--allow-child-process');
  if (p.worker) out.push('--allow-worker');
  return out;
}

/** Node checks the real path: grant that, so a grant through a symlink still applies. */
function realOrSelf(p: string): string {
  try {
    return realpathSync(resolve(p));
  } catch {
    return resolve(p);
  }
}
