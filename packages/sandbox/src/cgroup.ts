// One cgroup per plugin start: memory, CPU quota and process count, on cgroup v2 where the
// host may create a child group with those controllers, else on the v1 hierarchies. The
// plugin joins it before it runs any of its own code (spawn.ts), and it is removed when the
// plugin exits.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The cgroup controllers the sandbox uses. */
export type Controller = 'memory' | 'cpu' | 'pids';

export interface CgroupLimits {
  /** Bytes. */
  memory?: number | undefined;
  /** CPUs (0.5 is half of one core). */
  cpu?: number | undefined;
  pids?: number | undefined;
}

/** Where this host can make a plugin's cgroups, per controller. */
export interface CgroupHost {
  version: 1 | 2;
  /** The directory under which a plugin's group is made, for each controller. */
  parents: Partial<Record<Controller, string>>;
}

/** cpu.max / cfs period: 100 ms, the kernel's default. */
const CPU_PERIOD_US = 100_000;

interface Mount {
  root: string;
  point: string;
  fstype: string;
  superOptions: string[];
}

function mounts(): Mount[] {
  const out: Mount[] = [];
  for (const line of readText('/proc/self/mountinfo')?.split('\n') ?? []) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const l = left.split(' ');
    const r = right.split(' ');
    out.push({
      root: unescapeOctal(l[3] ?? ''),
      point: unescapeOctal(l[4] ?? ''),
      fstype: r[0] ?? '',
      superOptions: (r[2] ?? '').split(','),
    });
  }
  return out;
}

function unescapeOctal(s: string): string {
  return s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** This process's cgroup path per hierarchy: '' for v2, the controller names for v1. */
function ownGroups(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readText('/proc/self/cgroup')?.split('\n') ?? []) {
    const i = line.indexOf(':');
    const j = line.indexOf(':', i + 1);
    if (i < 0 || j < 0) continue;
    const names = line.slice(i + 1, j);
    const path = line.slice(j + 1);
    if (names === '') m.set('', path);
    for (const n of names.split(',')) if (n) m.set(n, path);
  }
  return m;
}

function under(m: Mount, path: string): string | undefined {
  // A group outside what the mount shows (a container's view) cannot be reached.
  const rel =
    m.root === '/'
      ? path
      : path.startsWith(`${m.root}/`) || path === m.root
        ? path.slice(m.root.length)
        : undefined;
  return rel === undefined ? undefined : join(m.point, rel);
}

/**
 * Finds where this host can make child groups with the wanted controllers: cgroup v2 first
 * (the host's own group must list them and let them, or be able to let them, to children),
 * then v1. A controller missing from the answer is not available.
 */
export function detectCgroups(wanted: readonly Controller[]): CgroupHost {
  const all = mounts();
  const own = ownGroups();
  const v2 = all.find((m) => m.fstype === 'cgroup2');
  if (v2 && own.has('')) {
    const dir = under(v2, own.get('')!);
    if (dir) {
      const parents: Partial<Record<Controller, string>> = {};
      const available = (readText(join(dir, 'cgroup.controllers')) ?? '').split(/\s+/);
      for (const c of wanted) {
        if (!available.includes(c)) continue;
        if (enableInSubtree(dir, c)) parents[c] = dir;
      }
      if (wanted.every((c) => parents[c])) return { version: 2, parents };
    }
  }
  const parents: Partial<Record<Controller, string>> = {};
  for (const c of wanted) {
    const m = all.find((x) => x.fstype === 'cgroup' && x.superOptions.includes(c));
    const path = own.get(c);
    if (!m || path === undefined) continue;
    const dir = under(m, path);
    if (dir && writable(dir)) parents[c] = dir;
  }
  return { version: 1, parents };
}

function enableInSubtree(dir: string, c: Controller): boolean {
  const enabled = (readText(join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/);
  if (enabled.includes(c)) return writable(dir);
  try {
    writeFileSync(join(dir, 'cgroup.subtree_control'), `+${c}`);
    return true;
  } catch {
    return false; // the no-internal-process rule, or not ours to change
  }
}

function writable(dir: string): boolean {
  const probe = join(dir, `plugwire-probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
}

/** The groups of one plugin start. */
export class PluginCgroup {
  readonly version: 1 | 2;
  /** Each directory made, once (v2 has one for all controllers). */
  readonly dirs: readonly string[];
  readonly #by: Partial<Record<Controller, string>>;
  readonly #limits: CgroupLimits;

  private constructor(
    version: 1 | 2,
    by: Partial<Record<Controller, string>>,
    limits: CgroupLimits,
  ) {
    this.version = version;
    this.#by = by;
    this.#limits = limits;
    this.dirs = [...new Set(Object.values(by))];
  }

  /** Makes the groups and writes the limits; on any failure removes what it made and throws. */
  static create(host: CgroupHost, name: string, limits: CgroupLimits): PluginCgroup {
    const leaf = `plugwire-${name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const by: Partial<Record<Controller, string>> = {};
    const wanted = (['memory', 'cpu', 'pids'] as const).filter((c) => limits[c] !== undefined);
    const made: string[] = [];
    try {
      for (const c of wanted) {
        const dir = join(host.parents[c]!, leaf);
        if (!made.includes(dir)) {
          mkdirSync(dir);
          made.push(dir);
        }
        by[c] = dir;
      }
      const g = new PluginCgroup(host.version, by, limits);
      g.#write();
      return g;
    } catch (err) {
      for (const d of made) tryRmdir(d);
      throw err;
    }
  }

  #write(): void {
    const { memory, cpu, pids } = this.#limits;
    const v2 = this.version === 2;
    if (memory !== undefined) {
      const d = this.#by.memory!;
      if (v2) {
        writeFileSync(join(d, 'memory.max'), String(memory));
        // Without this the kernel swaps the plugin out instead of stopping it.
        if (existsSync(join(d, 'memory.swap.max'))) writeFileSync(join(d, 'memory.swap.max'), '0');
      } else {
        writeFileSync(join(d, 'memory.limit_in_bytes'), String(memory));
        const memsw = join(d, 'memory.memsw.limit_in_bytes');
        if (existsSync(memsw)) writeFileSync(memsw, String(memory));
      }
    }
    if (cpu !== undefined) {
      const d = this.#by.cpu!;
      const quota = Math.max(1000, Math.round(cpu * CPU_PERIOD_US));
      if (v2) writeFileSync(join(d, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
      else {
        writeFileSync(join(d, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        writeFileSync(join(d, 'cpu.cfs_quota_us'), String(quota));
      }
    }
    if (pids !== undefined) writeFileSync(join(this.#by.pids!, 'pids.max'), String(pids));
  }

  /** The `cgroup.procs` files the plugin's first process writes its pid to. */
  get procsFiles(): string[] {
    return this.dirs.map((d) => join(d, 'cgroup.procs'));
  }

  /** Whether the kernel's OOM killer acted in the memory group. */
  oomKilled(): boolean {
    const d = this.#by.memory;
    if (!d) return false;
    const events = readText(join(d, this.version === 2 ? 'memory.events' : 'memory.oom_control'));
    const kills = Number(/^oom_kill (\d+)/m.exec(events ?? '')?.[1] ?? 0);
    if (kills > 0) return true;
    // Older v1 kernels have no oom_kill count: the limit was hit.
    if (this.version === 1 && !/^oom_kill /m.test(events ?? '')) {
      return Number(readText(join(d, 'memory.failcnt')) ?? 0) > 0;
    }
    return false;
  }

  /** How often a fork was refused by the process limit. */
  pidsRefused(): number {
    const d = this.#by.pids;
    if (!d) return 0;
    return Number(/^max (\d+)/m.exec(readText(join(d, 'pids.events')) ?? '')?.[1] ?? 0);
  }

  /** CPU time the group used, in microseconds, when the kernel tells. */
  cpuThrottled(): number {
    const d = this.#by.cpu;
    if (!d) return 0;
    return Number(/^nr_throttled (\d+)/m.exec(readText(join(d, 'cpu.stat')) ?? '')?.[1] ?? 0);
  }

  /** Pids still in the groups (a plugin's children that outlived it). */
  members(): number[] {
    const pids = new Set<number>();
    for (const f of this.procsFiles) {
      for (const p of (readText(f) ?? '').split('\n')) if (p) pids.add(Number(p));
    }
    return [...pids];
  }

  /**
   * Kills what is left in the groups and removes them. A killed process leaves its group
   * a moment later, so removal is retried for up to `timeoutMs`. Resolves false when a group
   * could not be removed.
   */
  async remove(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.version === 2) {
        for (const d of this.dirs) tryWrite(join(d, 'cgroup.kill'), '1');
      }
      for (const pid of this.members()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      const left = this.dirs.filter((d) => !tryRmdir(d));
      if (left.length === 0) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function tryWrite(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch {}
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
