// A sandbox for one plugin: checks once that every limit asked for can be enforced here,
// then gives PluginClient a `spawn` that starts each process inside its limits, and the
// environment options for its env policy. core knows nothing of it beyond `spawn` and the
// exit reason a spawned child may carry (EXIT_REASON).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Env, EXIT_REASON, type SpawnFunction } from '@plugwire/core';
import createDebug from 'debug';
import { type CgroupHost, type Controller, detectCgroups, PluginCgroup } from './cgroup.js';
import { envOptions } from './env.js';
import { SandboxUnavailableError } from './errors.js';
import { isNode, permissionArgs, permissionFlag } from './node.js';
import {
  type ResolvedSandboxOptions,
  resolveSandboxOptions,
  type SandboxEvent,
  type SandboxOptions,
} from './options.js';

const debug = createDebug('plugwire:sandbox');

/** What the sandbox starts. */
export interface SandboxTarget {
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** The plugin's name in events and cgroup names. @default the script's or command's basename */
  name?: string;
  /** Variables the plugin is given whatever the env policy (the manifest's `env`). */
  env?: Record<string, string | undefined>;
}

/** What is in force for a plugin, for `plugwire inspect` and logs. */
export interface SandboxInfo {
  memory?: { bytes: number; by: 'cgroup v1' | 'cgroup v2' | 'RLIMIT_AS'; v8HeapMiB?: number };
  cpu?: { cpus: number; by: 'cgroup v1' | 'cgroup v2' };
  cpuTime?: { seconds: number; by: 'RLIMIT_CPU' };
  pids?: { max: number; by: 'cgroup v1' | 'cgroup v2' };
  env: 'inherit' | 'none' | string[];
  network: 'host' | 'none';
  user?: { uid: number; gid: number };
  files?: { flag: string; read: string[]; write: string[]; childProcess: boolean; worker: boolean };
}

/** The PluginClient options a sandbox sets. */
export interface SandboxClientOptions {
  spawn: SpawnFunction;
  env: Record<string, string | undefined>;
  skipHostEnv: boolean;
  name: string;
}

/** Exit code of the wrapper when the plugin could not join its cgroup (nothing of it ran). */
export const CGROUP_JOIN_FAILED = 125;

// The first process: joins each cgroup, then execs the rest (unshare, prlimit, setpriv,
// the plugin), so the plugin's first instruction already runs inside its limits.
const JOIN_SCRIPT =
  'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

export class Sandbox {
  readonly options: ResolvedSandboxOptions;
  readonly target: SandboxTarget;
  readonly name: string;
  readonly #cgroups: CgroupHost | undefined;
  readonly #tools: { sh: string; unshare?: string; prlimit?: string; setpriv?: string };
  readonly #onEvent: (e: SandboxEvent) => void;
  readonly #pluginDir: string | undefined;
  /** Removal of the groups of every start, so a caller can wait for them (tests, shutdown). */
  readonly #removals = new Set<Promise<boolean>>();

  /**
   * Checks every limit asked for against this host. Throws SandboxUnavailableError for the
   * first one it cannot enforce, TypeError/RangeError for a bad option.
   */
  constructor(target: SandboxTarget, options: SandboxOptions) {
    if (!target || typeof target.command !== 'string' || !target.command) {
      throw new TypeError('the sandbox needs the command it starts');
    }
    this.target = target;
    this.options = resolveSandboxOptions(options);
    const o = this.options;
    const script = target.args?.find((a) => !a.startsWith('-'));
    this.name = target.name ?? basename(script ?? target.command).replace(/\.[cm]?js$/, '');
    this.#onEvent = options.onEvent ?? ((e) => debug('%s: %s: %s', e.plugin, e.kind, e.message));
    this.#pluginDir =
      options.pluginDir ?? (script ? dirname(resolve(target.cwd ?? '.', script)) : undefined);
    const root = process.getuid?.() === 0;
    const linux = process.platform === 'linux';

    const wanted: Controller[] = [];
    if (o.memory !== undefined) wanted.push('memory');
    if (o.cpu !== undefined) wanted.push('cpu');
    if (o.pids !== undefined) wanted.push('pids');
    if (wanted.length > 0 && linux) {
      const host = detectCgroups(wanted);
      if (Object.keys(host.parents).length > 0) this.#cgroups = host;
    }
    const has = (c: Controller) => this.#cgroups?.parents[c] !== undefined;
    this.#tools = { sh: which('sh') ?? '/bin/sh' };
    if (o.cpu !== undefined && !has('cpu')) {
      throw new SandboxUnavailableError(
        'cpu',
        'no cgroup with the cpu controller that this process may create (cgroup v2 or v1)',
      );
    }
    if (o.pids !== undefined && !has('pids')) {
      throw new SandboxUnavailableError(
        'pids',
        'no cgroup with the pids controller that this process may create (cgroup v2 or v1)',
      );
    }
    const needPrlimit = o.cpuTime !== undefined || (o.memory !== undefined && !has('memory'));
    if (needPrlimit) {
      const prlimit = linux ? which('prlimit') : undefined;
      if (!prlimit) {
        throw new SandboxUnavailableError(
          o.cpuTime !== undefined ? 'cpuTime' : 'memory',
          'no cgroup for memory and no prlimit(1) (util-linux) to set RLIMIT_AS/RLIMIT_CPU',
        );
      }
      this.#tools.prlimit = prlimit;
    }
    if (o.network === 'none') {
      const unshare = linux ? which('unshare') : undefined;
      if (!unshare)
        throw new SandboxUnavailableError('network', 'no unshare(1) (util-linux) on this host');
      const probe = spawnSync(unshare, ['-n', 'true'], { stdio: 'ignore', timeout: 5_000 });
      if (probe.status !== 0) {
        throw new SandboxUnavailableError(
          'network',
          'this process may not create a network namespace (unshare -n failed; needs root or CAP_SYS_ADMIN)',
        );
      }
      this.#tools.unshare = unshare;
    }
    if (o.user) {
      if (!root)
        throw new SandboxUnavailableError(
          'user',
          'running a plugin as another user needs a host running as root',
        );
      const setpriv = which('setpriv');
      if (!setpriv)
        throw new SandboxUnavailableError('user', 'no setpriv(1) (util-linux) on this host');
      this.#tools.setpriv = setpriv;
    }
    if (o.files) {
      if (!isNode(target.command)) {
        throw new SandboxUnavailableError(
          'files',
          `file grants use Node's permission model and ${target.command} is not node`,
        );
      }
      if (!permissionFlag())
        throw new SandboxUnavailableError(
          'files',
          `Node ${process.versions.node} has no permission model`,
        );
    }
  }

  /** The options to spread into PluginClientOptions (then add plugins, handshake…). */
  clientOptions(): SandboxClientOptions {
    return {
      spawn: (env) => this.#spawn(env),
      ...envOptions(this.options.env, this.target.env),
      name: this.name,
    };
  }

  /** Resolves once the groups of every start so far are removed (true if all were). */
  async settled(): Promise<boolean> {
    const all = await Promise.all([...this.#removals]);
    return all.every(Boolean);
  }

  /** What is in force, for inspection. */
  info(): SandboxInfo {
    const o = this.options;
    const by = `cgroup v${this.#cgroups?.version ?? 1}` as 'cgroup v1' | 'cgroup v2';
    const info: SandboxInfo = {
      env: typeof o.env === 'string' ? o.env : [...o.env],
      network: o.network,
    };
    if (o.memory !== undefined) {
      info.memory = {
        bytes: o.memory,
        by: this.#cgroups?.parents.memory ? by : 'RLIMIT_AS',
        ...(isNode(this.target.command) ? { v8HeapMiB: heapMiB(o.memory) } : {}),
      };
    }
    if (o.cpu !== undefined) info.cpu = { cpus: o.cpu, by };
    if (o.cpuTime !== undefined) info.cpuTime = { seconds: o.cpuTime, by: 'RLIMIT_CPU' };
    if (o.pids !== undefined) info.pids = { max: o.pids, by };
    if (o.user) info.user = { ...o.user };
    if (o.files) {
      info.files = {
        flag: permissionFlag()!,
        read: [...(this.#pluginDir ? [this.#pluginDir] : []), ...o.files.read],
        write: [...o.files.write],
        childProcess: o.files.childProcess,
        worker: o.files.worker,
      };
    }
    return info;
  }

  #spawn(env: NodeJS.ProcessEnv): ChildProcess {
    const o = this.options;
    const t = this.target;
    const socketDir = env[Env.UnixSocketDir];
    const node = isNode(t.command);
    let args = [...(t.args ?? [])];
    if (node) {
      const flags: string[] = [];
      if (o.memory !== undefined) flags.push(`--max-old-space-size=${heapMiB(o.memory)}`);
      if (o.files) {
        flags.push(
          ...permissionArgs(
            { ...o.files, read: [...(this.#pluginDir ? [this.#pluginDir] : []), ...o.files.read] },
            socketDir,
          ),
        );
      }
      args = [...flags, ...args];
    }
    let argv = [t.command, ...args];
    if (o.user) {
      // The host-made socket directory (0700) becomes the plugin user's: the plugin can make
      // its socket there, the host (root) can still reach it, and no one else can.
      if (socketDir && existsSync(socketDir)) chownSync(socketDir, o.user.uid, o.user.gid);
      argv = [
        this.#tools.setpriv!,
        `--reuid=${o.user.uid}`,
        `--regid=${o.user.gid}`,
        '--clear-groups',
        '--inh-caps=-all',
        ...argv,
      ];
    }
    const rlimits: string[] = [];
    // Soft below hard: the kernel sends SIGXCPU at the soft limit (a reason the host can
    // name) and SIGKILL only a second later, at the hard one, for a plugin that ignores it.
    if (o.cpuTime !== undefined) rlimits.push(`--cpu=${o.cpuTime}:${o.cpuTime + 1}`);
    if (o.memory !== undefined && !this.#cgroups?.parents.memory) rlimits.push(`--as=${o.memory}`);
    if (rlimits.length > 0) argv = [this.#tools.prlimit!, ...rlimits, ...argv];
    if (o.network === 'none') argv = [this.#tools.unshare!, '-n', ...argv];

    let group: PluginCgroup | undefined;
    if (this.#cgroups) {
      group = PluginCgroup.create(this.#cgroups, this.name, {
        memory: this.#cgroups.parents.memory ? o.memory : undefined,
        cpu: o.cpu,
        pids: o.pids,
      });
      argv = [
        this.#tools.sh,
        '-c',
        JOIN_SCRIPT,
        'plugwire-sandbox',
        ...group.procsFiles,
        '--',
        ...argv,
      ];
    }
    debug('%s: spawn %o', this.name, argv);
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        env,
        cwd: t.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        // As core's spawnCommand: its own process group, so kill() reaches its children.
        detached: process.platform !== 'win32',
        windowsHide: true,
      });
    } catch (err) {
      if (group) this.#track(group.remove());
      throw err;
    }
    const denied: string[] = [];
    let heap = false;
    let tail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      // Bounded: only whole lines of at most 4 KiB are looked at.
      const text = (tail + chunk.toString('utf8')).slice(-8192);
      const lines = text.split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        if (
          line.includes('ERR_ACCESS_DENIED') ||
          /Access to this API has been restricted/.test(line)
        ) {
          if (denied.length < 10) denied.push(line.trim().slice(0, 4096));
          this.#onEvent({
            plugin: this.name,
            kind: 'access-denied',
            message: line.trim().slice(0, 4096),
          });
        }
        if (/JavaScript heap out of memory|Reached heap limit/.test(line)) heap = true;
      }
    });
    let reason: string | undefined;
    child.once('exit', (code, signal) => {
      const why: string[] = [];
      if (code === CGROUP_JOIN_FAILED && group)
        why.push('the sandbox could not place the plugin in its cgroup');
      if (group?.oomKilled())
        why.push(
          `memory limit (${mib(o.memory!)} MiB) exceeded: killed by the kernel's OOM killer`,
        );
      else if (heap) why.push(`memory limit (V8 heap of ${heapMiB(o.memory ?? 0)} MiB) exceeded`);
      if (o.cpuTime !== undefined && signal === 'SIGXCPU') {
        why.push(`CPU time limit (${o.cpuTime} s) exceeded`);
      }
      const refused = group?.pidsRefused() ?? 0;
      if (refused > 0) why.push(`process limit (${o.pids}) refused ${refused} fork(s)`);
      if (denied.length > 0) why.push(`access denied by the sandbox: ${denied[0]}`);
      reason = why.length > 0 ? why.join('; ') : undefined;
      if (reason) this.#onEvent({ plugin: this.name, kind: 'limit', message: reason });
      if (group) this.#track(group.remove());
    });
    (child as unknown as Record<symbol, () => string | undefined>)[EXIT_REASON] = () => reason;
    return child;
  }

  #track(p: Promise<boolean>): void {
    this.#removals.add(p);
    p.then((ok) => {
      this.#removals.delete(p);
      if (!ok) debug('%s: a cgroup could not be removed', this.name);
    });
  }
}

/** V8's old space: three quarters of the cap, so the heap limit's clear error comes first. */
function heapMiB(memory: number): number {
  return Math.max(8, Math.floor((memory / 1024 / 1024) * 0.75));
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

function which(name: string): string | undefined {
  for (const dir of [
    '/usr/bin',
    '/bin',
    '/usr/sbin',
    '/sbin',
    ...(process.env.PATH ?? '').split(':'),
  ]) {
    if (dir && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/** Makes a sandbox for `target` (see Sandbox). */
export function createSandbox(target: SandboxTarget, options: SandboxOptions): Sandbox {
  return new Sandbox(target, options);
}

/** One line for `plugwire inspect`: each limit in force and what enforces it. */
export function describeSandbox(i: SandboxInfo): string {
  const parts: string[] = [];
  if (i.memory) {
    parts.push(
      `memory ${mib(i.memory.bytes)} MiB (${i.memory.by}${i.memory.v8HeapMiB ? `, V8 heap ${i.memory.v8HeapMiB} MiB` : ''})`,
    );
  }
  if (i.cpu) parts.push(`cpu ${i.cpu.cpus} (${i.cpu.by})`);
  if (i.cpuTime) parts.push(`cpu time ${i.cpuTime.seconds} s`);
  if (i.pids) parts.push(`pids ${i.pids.max} (${i.pids.by})`);
  parts.push(`env ${typeof i.env === 'string' ? i.env : i.env.join(',')}`);
  parts.push(`network ${i.network}`);
  if (i.user) parts.push(`user ${i.user.uid}:${i.user.gid}`);
  if (i.files) {
    parts.push(
      `files (${i.files.flag}) read ${i.files.read.join(',') || '-'} write ${i.files.write.join(',') || '-'}${i.files.childProcess ? ', child processes' : ''}${i.files.worker ? ', workers' : ''}`,
    );
  }
  return parts.join('; ');
}
