// What a sandbox limits: defaults in one place and one check, so that a bad value fails
// when the sandbox is made, naming the option.
import { checkEnvPolicy, type EnvPolicy } from './env.js';

/** Events a sandbox reports about a plugin (for the host's log). */
export interface SandboxEvent {
  /** The plugin's name. */
  plugin: string;
  /** `access-denied`: Node's permission model refused the plugin something; `limit`: a limit stopped it. */
  kind: 'access-denied' | 'limit';
  message: string;
}

/** File and process grants for JS plugins (Node's permission model). */
export interface SandboxFiles {
  /** Paths the plugin may read besides its own folder and socket directory. @default [] */
  read?: readonly string[];
  /** Paths the plugin may write besides its socket directory. @default [] */
  write?: readonly string[];
  /** May start child processes. @default false */
  childProcess?: boolean;
  /** May start worker threads. @default false */
  worker?: boolean;
}

/** Limits and permissions for one plugin. Every field is off unless set. */
export interface SandboxOptions {
  /** Hard memory cap of the plugin and its children, bytes (cgroup, else RLIMIT_AS). */
  memory?: number;
  /** CPU quota in CPUs (0.5: half of one core), cgroup `cpu`. */
  cpu?: number;
  /** CPU time limit in seconds (RLIMIT_CPU): the kernel ends the plugin after it. */
  cpuTime?: number;
  /** Most processes (and threads) the plugin and its children may have at once (cgroup `pids`). */
  pids?: number;
  /**
   * Which of the host's environment variables the plugin sees; the PluginClient's `env`
   * is added in every case.
   * @default 'inherit'
   */
  env?: EnvPolicy;
  /** `none`: a network namespace of its own with no interfaces but a down loopback. @default 'host' */
  network?: 'host' | 'none';
  /** Run as this user and group (the host must be root). */
  user?: { uid: number; gid: number };
  /**
   * Node's permission model for JS plugins: only these files and abilities. Refused for a
   * command that is not Node.
   */
  files?: SandboxFiles;
  /**
   * The plugin's own folder, readable under `files`. @default the directory of the script
   * (the first argument that is not a flag)
   */
  pluginDir?: string;
  /** Receives what the sandbox saw: denied accesses, limits hit. @default logged with `debug` under `plugwire:sandbox` */
  onEvent?: (event: SandboxEvent) => void;
}

export interface ResolvedSandboxOptions {
  memory: number | undefined;
  cpu: number | undefined;
  cpuTime: number | undefined;
  pids: number | undefined;
  env: EnvPolicy;
  network: 'host' | 'none';
  user: { uid: number; gid: number } | undefined;
  files: Required<SandboxFiles> | undefined;
}

export const defaults = {
  env: 'inherit' as EnvPolicy,
  network: 'host' as const,
} as const;

/** Below this a Node plugin cannot even start; a smaller cap is a mistake, not a limit. */
export const MIN_MEMORY = 16 * 1024 * 1024;

export function resolveSandboxOptions(o: SandboxOptions): ResolvedSandboxOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError('the sandbox needs options');
  const num = (name: keyof SandboxOptions, min: number, integer: boolean): number | undefined => {
    const v = o[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number') throw new TypeError(`SandboxOptions.${name} must be a number`);
    if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
      throw new RangeError(
        `SandboxOptions.${name} must be ${integer ? 'an integer ' : ''}of at least ${min}, not ${v}`,
      );
    }
    return v;
  };
  if (o.network !== undefined && o.network !== 'host' && o.network !== 'none') {
    throw new TypeError(
      `SandboxOptions.network must be 'host' or 'none', not ${JSON.stringify(o.network)}`,
    );
  }
  if (o.user !== undefined) {
    const u = o.user as { uid?: unknown; gid?: unknown };
    if (typeof u !== 'object' || !isId(u.uid) || !isId(u.gid)) {
      throw new TypeError('SandboxOptions.user must be { uid, gid } with non-negative integers');
    }
  }
  let files: Required<SandboxFiles> | undefined;
  if (o.files !== undefined) {
    const f = o.files;
    const paths = (name: 'read' | 'write') => {
      const v = f[name] ?? [];
      if (
        !Array.isArray(v) ||
        !v.every((p) => typeof p === 'string' && p !== '' && !p.includes(','))
      ) {
        throw new TypeError(
          `SandboxOptions.files.${name} must be an array of paths (without commas)`,
        );
      }
      return v as string[];
    };
    files = {
      read: paths('read'),
      write: paths('write'),
      childProcess: f.childProcess === true,
      worker: f.worker === true,
    };
  }
  return {
    memory: num('memory', MIN_MEMORY, true),
    cpu: num('cpu', 0.01, false),
    cpuTime: num('cpuTime', 1, true),
    pids: num('pids', 1, true),
    env: checkEnvPolicy(o.env ?? defaults.env),
    network: o.network ?? defaults.network,
    user: o.user,
    files,
  };
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}
