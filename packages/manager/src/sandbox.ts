// plugin.json's `sandbox` section: the limits a plugin asks to run under, and the host
// variables it needs. The manager always starts plugins through @plugwire/sandbox so that,
// section or not, a plugin sees only DEFAULT_PLUGIN_ENV and what it declares of the host's
// environment, not the host's secrets.
import { DEFAULT_PLUGIN_ENV, type SandboxOptions } from '@plugwire/sandbox';

/** A validated `sandbox` section. Sizes are bytes; every limit is off unless set. */
export interface ManifestSandbox {
  /** Memory cap: bytes, or a string with a unit ("256M", "1G"). */
  memory?: number;
  /** CPU quota in CPUs. */
  cpu?: number;
  /** CPU time limit, seconds. */
  cpuTime?: number;
  /** Most processes at once. */
  pids?: number;
  /** Host variables the plugin needs besides DEFAULT_PLUGIN_ENV. @default [] */
  env: string[];
  /** `none`: no network at all. @default 'host' */
  network?: 'host' | 'none';
  /** Node's permission model (JS plugins): paths relative to the plugin directory or absolute. */
  files?: { read: string[]; write: string[]; childProcess: boolean; worker: boolean };
}

const KEYS = new Set(['memory', 'cpu', 'cpuTime', 'pids', 'env', 'network', 'files']);
const FILE_KEYS = new Set(['read', 'write', 'childProcess', 'worker']);
const UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };

/** Parses the section; `fail` throws a ManifestError naming the field. */
export function parseSandbox(
  raw: unknown,
  fail: (field: string, problem: string) => never,
): ManifestSandbox | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail('sandbox', 'must be an object, e.g. { "memory": "256M", "network": "none" }');
  }
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!KEYS.has(k))
      fail(`sandbox.${k}`, `is not a sandbox field (known: ${[...KEYS].join(', ')})`);
  }
  const out: ManifestSandbox = { env: [] };
  if (r.memory !== undefined) out.memory = size(r.memory, fail);
  for (const k of ['cpu', 'cpuTime', 'pids'] as const) {
    const v = r[k];
    if (v === undefined) continue;
    const integer = k !== 'cpu';
    if (
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      v <= 0 ||
      (integer && !Number.isInteger(v))
    ) {
      fail(
        `sandbox.${k}`,
        `must be a positive ${integer ? 'integer' : 'number'} (got ${JSON.stringify(v)})`,
      );
    }
    out[k] = v as number;
  }
  if (r.env !== undefined) {
    if (
      !Array.isArray(r.env) ||
      !r.env.every((n) => typeof n === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(n))
    ) {
      fail('sandbox.env', 'must be an array of environment variable names');
    }
    out.env = r.env as string[];
  }
  if (r.network !== undefined) {
    if (r.network !== 'host' && r.network !== 'none')
      fail('sandbox.network', 'must be "host" or "none"');
    out.network = r.network as 'host' | 'none';
  }
  if (r.files !== undefined) {
    const f = r.files as Record<string, unknown>;
    if (typeof f !== 'object' || f === null || Array.isArray(f))
      fail('sandbox.files', 'must be an object');
    for (const k of Object.keys(f)) {
      if (!FILE_KEYS.has(k))
        fail(`sandbox.files.${k}`, `is not a files field (known: ${[...FILE_KEYS].join(', ')})`);
    }
    const paths = (k: 'read' | 'write') => {
      const v = f[k] ?? [];
      if (
        !Array.isArray(v) ||
        !v.every((p) => typeof p === 'string' && p !== '' && !p.includes(','))
      ) {
        fail(`sandbox.files.${k}`, 'must be an array of paths (without commas)');
      }
      return v as string[];
    };
    for (const k of ['childProcess', 'worker'] as const) {
      if (f[k] !== undefined && typeof f[k] !== 'boolean')
        fail(`sandbox.files.${k}`, 'must be true or false');
    }
    out.files = {
      read: paths('read'),
      write: paths('write'),
      childProcess: f.childProcess === true,
      worker: f.worker === true,
    };
  }
  return out;
}

function size(v: unknown, fail: (field: string, problem: string) => never): number {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  const m = typeof v === 'string' ? /^(\d+)([KMG])?$/.exec(v) : null;
  if (!m)
    return fail(
      'sandbox.memory',
      `must be bytes or a size such as "256M" (got ${JSON.stringify(v)})`,
    );
  return Number(m[1]) * (m[2] ? UNITS[m[2]]! : 1);
}

/**
 * The sandbox a managed plugin runs in: the manifest's limits, the default environment
 * plus what it declares, and file paths resolved against the plugin directory.
 */
export function sandboxOptions(s: ManifestSandbox | undefined, dir: string): SandboxOptions {
  const o: SandboxOptions = { env: [...new Set([...DEFAULT_PLUGIN_ENV, ...(s?.env ?? [])])] };
  if (!s) return o;
  if (s.memory !== undefined) o.memory = s.memory;
  if (s.cpu !== undefined) o.cpu = s.cpu;
  if (s.cpuTime !== undefined) o.cpuTime = s.cpuTime;
  if (s.pids !== undefined) o.pids = s.pids;
  if (s.network !== undefined) o.network = s.network;
  if (s.files) {
    const abs = (p: string) => (p.startsWith('/') ? p : `${dir}/${p}`);
    o.files = { ...s.files, read: s.files.read.map(abs), write: s.files.write.map(abs) };
    o.pluginDir = dir;
  }
  return o;
}
