#!/usr/bin/env node
// plugwire's side-by-side benchmark (issue 8): every contender is a real plugin process
// driven through the same workload, interleaved (A B C A B C …) for several rounds; the
// table shows the median of the rounds with min–max, and the ratios against the targets.
//
//   node bench/dist/run.js [--quick] [--rounds N] [--only a,b] [--no-go] [--no-scale]
//     [--workloads startup,serial,conc,payload,bulk] [--out FILE] [--json FILE]
//     [--tmpdir DIR] [--prof DIR]
//
// --quick      tiny counts, 2 rounds: proves the benchmark works (CI); writes no doc unless
//              --out is given
// --out FILE   where the markdown goes (default docs/benchmarks.md for a full run); the part
//              between the bench:begin/end markers is replaced, the rest kept
// --prof DIR   CPU profiles of both sides of every measured command, exactly around it, as
//              DIR/<contender>-<workload>-<n>-{host,plugin}.cpuprofile, and of every cold
//              start's plugin in DIR/<contender>-startup/; sum them with
//              `node bench/dist/prof-top.js DIR/plugwire-msgpack-conc-*-plugin.cpuprofile`
// --tmpdir DIR parent of the run's temp dir (sockets, the Go binary); removed at the end

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { buildGo } from './go.js';
import { FULL, median, QUICK, type Workload } from './shared.js';

// ---- options ---------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const has = (name: string) => argv.includes(name);
const quick = has('--quick');
const W: Workload = quick ? QUICK : FULL;
const rounds = Number(opt('--rounds') ?? (quick ? 2 : 5));
const repo = fileURLToPath(new URL('../../', import.meta.url));
const outFile = opt('--out') ?? (quick ? undefined : join(repo, 'docs', 'benchmarks.md'));
const profDir = opt('--prof') ? resolve(opt('--prof')!) : undefined;
const WORKLOADS = ['startup', 'serial', 'conc', 'payload', 'bulk'] as const;
type WorkloadName = (typeof WORKLOADS)[number];
const workloads = new Set((opt('--workloads')?.split(',') ?? WORKLOADS) as WorkloadName[]);
const scale = !has('--no-scale');

/** The contenders, in table order. */
const CONTENDERS = [
  { id: 'plugwire-msgpack', label: 'plugwire msgpack' },
  { id: 'plugwire-json', label: 'plugwire json' },
  { id: 'raw', label: 'raw floor (binary RPC, unix socket)' },
  { id: 'jsonrpc2', label: 'json-rpc-2.0 (ndjson, unix socket)' },
  { id: 'go', label: 'hashicorp/go-plugin net/rpc (Go↔Go)' },
] as const;
type ContenderId = (typeof CONTENDERS)[number]['id'];
const only = opt('--only')?.split(',');

/** The bulk transfer by layer: each (contender, path) is timed in the bulk step of each round. */
const BULK_PATHS = [
  { id: 'raw', via: 'socket', label: 'raw unix socket (64 KiB writes)' },
  { id: 'raw', via: 'mux', label: '@plugwire/mux alone: one yamux stream on a unix socket' },
  { id: 'plugwire-msgpack', via: 'broker', label: 'plugwire: raw MuxBroker stream' },
  { id: 'plugwire-msgpack', via: 'sdk', label: 'plugwire: SDK byte stream (Readable), msgpack' },
  { id: 'plugwire-json', via: 'sdk', label: 'plugwire: SDK byte stream (Readable), json' },
  { id: 'jsonrpc2', via: 'sdk', label: 'json-rpc-2.0: base64 notifications' },
  { id: 'go', via: 'sdk', label: 'go-plugin: MuxBroker stream (Go↔Go)' },
] as const;

// ---- drivers ---------------------------------------------------------------------------------

type Result = Record<string, unknown> & { error?: string };

/** One contender's host process, spoken to in JSON lines. */
class Driver {
  readonly child: ChildProcess;
  readonly #waiting: Array<{ resolve: (r: Result) => void; reject: (e: Error) => void }> = [];
  #exited = false;

  constructor(
    readonly id: ContenderId,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.#waiting.shift()?.resolve(JSON.parse(line) as Result);
    });
    // go-plugin's yamux logs a failed write when the plugin it killed was still writing.
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      if (!/\[ERR\] yamux: Failed to write header/.test(line)) {
        process.stderr.write(`[${id}] ${line}\n`);
      }
    });
    this.child.on('exit', (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiting.splice(0)) {
        w.reject(new Error(`${this.id} driver exited (${code ?? signal})`));
      }
    });
    this.child.stdin!.on('error', () => {});
  }

  /** Sends a command; fails when the driver reports an error or does not answer in time. */
  async send(cmd: Record<string, unknown>, timeoutMs = 300_000): Promise<Result> {
    if (this.#exited) throw new Error(`${this.id} driver has exited`);
    let timer: NodeJS.Timeout | undefined;
    const r = await new Promise<Result>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      timer = setTimeout(
        () =>
          reject(new Error(`${this.id} ${String(cmd.op)}: no answer within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    }).finally(() => clearTimeout(timer));
    if (r.error) throw new Error(`${this.id} ${String(cmd.op)}: ${r.error}`);
    return r;
  }

  /** Stops the plugin and the driver (closing stdin), then SIGKILL after 10 s. */
  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = once(this.child, 'exit');
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** At once: SIGKILL (its plugins see their stdin or connection close and exit). */
  kill(): void {
    if (!this.#exited) this.child.kill('SIGKILL');
  }
}

function startDriver(id: ContenderId, dir: string, goBinary: string | undefined): Driver {
  const env = { ...process.env };
  if (profDir) {
    // Measured commands: both sides, exactly around the command (bench/profiler.ts). Cold
    // starts: every plugin of the startup command with --cpu-prof, into <id>-startup/.
    mkdirSync(profDir, { recursive: true });
    env.BENCH_PROFILE = profDir;
    const startup = join(profDir, `${id}-startup`);
    mkdirSync(startup, { recursive: true });
    env.BENCH_STARTUP_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${startup}`;
  }
  if (id === 'go') {
    // go-plugin puts its sockets in TMPDIR: the run's dir, removed at the end.
    return new Driver(id, goBinary!, ['-mode=host'], { ...env, TMPDIR: dir });
  }
  const driver = fileURLToPath(new URL('./driver.js', import.meta.url));
  return new Driver(id, process.execPath, [driver, id, dir], env);
}

// ---- measuring -------------------------------------------------------------------------------

/** samples[contender][field] = one value per round. */
const samples = new Map<string, Map<string, number[]>>();
/** Every individual cold start, for the note under the table. */
const allStartups = new Map<string, number[]>();

function record(key: string, field: string, value: number): void {
  const m = samples.get(key) ?? new Map<string, number[]>();
  samples.set(key, m);
  const a = m.get(field) ?? [];
  m.set(field, a);
  a.push(value);
}

const progress = (s: string) => process.stdout.write(s);

async function measureRound(drivers: Driver[], round: number): Promise<void> {
  /** Each contender in turn, the first one rotating with the round (and the slice). */
  const inTurn = async <T>(items: readonly T[], work: (item: T) => Promise<void>, shift = 0) => {
    for (let i = 0; i < items.length; i++) {
      await work(items[(i + round + shift) % items.length]!);
    }
  };
  /** W.slices slices of a workload, the contenders taking turns in each; results by driver. */
  const sliced = async (cmd: Record<string, unknown>) => {
    const out = new Map<Driver, Result[]>(drivers.map((d) => [d, []]));
    for (let slice = 0; slice < W.slices; slice++) {
      await inTurn(drivers, async (d) => void out.get(d)!.push(await d.send(cmd)), slice);
    }
    return out;
  };
  const num = (r: Result, k: string) => Number(r[k]);
  const sum = (rs: Result[], f: (r: Result) => number) => rs.reduce((a, r) => a + f(r), 0);
  progress(`round ${round + 1}/${rounds}:`);
  let t = performance.now();
  let last = '';
  /** Progress: each workload's name, then how long it took for all contenders. */
  const step = (name: string) => {
    if (last) progress(` ${((performance.now() - t) / 1000).toFixed(0)}s`);
    progress(name);
    last = name;
    t = performance.now();
  };
  if (workloads.has('startup')) {
    step(' startup');
    for (const [d, rs] of await sliced({ op: 'startup', n: W.startups / W.slices })) {
      const ms = rs.flatMap((r) => r.startup_ms as number[]);
      record(d.id, 'startup_ms', median(ms));
      record(d.id, 'rss_mib', median(rs.flatMap((r) => r.rss_mib as number[])));
      allStartups.set(d.id, [...(allStartups.get(d.id) ?? []), ...ms]);
    }
  }
  if (workloads.has('serial')) {
    step(' serial');
    await inTurn(drivers, async (d) => {
      const r = await d.send({ op: 'serial', n: W.serialCalls });
      record(d.id, 'serial_cps', num(r, 'cps'));
      record(d.id, 'serial_p50_us', num(r, 'p50_us'));
      record(d.id, 'serial_p99_us', num(r, 'p99_us'));
      record(
        d.id,
        'serial_cpu_us',
        ((num(r, 'host_cpu_ms') + num(r, 'plugin_cpu_ms')) * 1000) / W.serialCalls,
      );
    });
  }
  if (workloads.has('conc')) {
    step(' conc');
    const n = W.concCalls / W.slices;
    for (const [d, rs] of await sliced({ op: 'conc', n, window: W.window })) {
      record(d.id, 'conc_cps', W.concCalls / sum(rs, (r) => n / num(r, 'cps')));
      record(
        d.id,
        'conc_host_cpu_us',
        (sum(rs, (r) => num(r, 'host_cpu_ms')) * 1000) / W.concCalls,
      );
      record(
        d.id,
        'conc_plugin_cpu_us',
        (sum(rs, (r) => num(r, 'plugin_cpu_ms')) * 1000) / W.concCalls,
      );
    }
  }
  if (workloads.has('payload')) {
    step(' payload');
    const n = W.payloadEchoes / W.slices;
    const mib = (n * W.payloadSize) / 2 ** 20;
    for (const [d, rs] of await sliced({ op: 'payload', n, size: W.payloadSize })) {
      record(d.id, 'payload_mbs', (mib * W.slices) / sum(rs, (r) => mib / num(r, 'mbs')));
      record(
        d.id,
        'payload_cpu_ms_per_mib',
        sum(rs, (r) => num(r, 'host_cpu_ms') + num(r, 'plugin_cpu_ms')) / (mib * W.slices),
      );
    }
  }
  if (workloads.has('bulk')) {
    step(' bulk');
    const byId = new Map(drivers.map((d) => [d.id, d]));
    const paths = BULK_PATHS.filter((p) => byId.has(p.id));
    const mib = W.bulkSize / 2 ** 20;
    const total = new Map<string, { seconds: number; cpuMs: number }>();
    for (let k = 0; k < W.bulkTransfers; k++) {
      await inTurn(
        paths,
        async (p) => {
          const r = await byId
            .get(p.id)!
            .send({ op: 'bulk', size: W.bulkSize, chunk: W.bulkChunk, via: p.via });
          const key = `bulk:${p.id}:${p.via}`;
          const t = total.get(key) ?? { seconds: 0, cpuMs: 0 };
          t.seconds += mib / num(r, 'mbs');
          t.cpuMs += num(r, 'host_cpu_ms') + num(r, 'plugin_cpu_ms');
          total.set(key, t);
        },
        k,
      );
    }
    for (const p of paths) {
      const t = total.get(`bulk:${p.id}:${p.via}`)!;
      const mbs = (mib * W.bulkTransfers) / t.seconds;
      if (p.via === 'sdk' || p.via === 'socket') record(p.id, 'bulk_mbs', mbs);
      record(`bulk:${p.id}:${p.via}`, 'mbs', mbs);
      record(`bulk:${p.id}:${p.via}`, 'cpu_ms_per_mib', t.cpuMs / (mib * W.bulkTransfers));
    }
  }
  step('');
  progress('\n');
}

interface Scale {
  streams?: { n: number; runs: number[] };
  slow?: Result;
  many: Array<{ id: ContenderId; n: number; r: Result }>;
}

async function measureScale(drivers: Driver[]): Promise<Scale> {
  const out: Scale = { many: [] };
  const byId = new Map(drivers.map((d) => [d.id, d]));
  const pw = byId.get('plugwire-msgpack');
  if (pw) {
    const n = quick ? 200 : 10_000;
    progress(`scale: ${n} streams on one session`);
    const runs: number[] = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      runs.push(Number((await pw.send({ op: 'streams', n })).total_ms));
      progress('.');
    }
    out.streams = { n, runs };
    const seconds = quick ? 1 : 5;
    progress(`\nscale: slow reader (${seconds} s at 1 MiB/s)`);
    out.slow = await pw.send({ op: 'slow', size: 256 * 2 ** 20, seconds });
    progress('\n');
  }
  const n = quick ? 3 : 100;
  for (const id of ['raw', 'plugwire-msgpack', 'go'] as const) {
    const d = byId.get(id);
    if (!d) continue;
    progress(`scale: ${n} plugins started at once by ${id}\n`);
    out.many.push({ id, n, r: await d.send({ op: 'many', n }) });
  }
  return out;
}

// ---- reporting -------------------------------------------------------------------------------

const FIELDS = [
  'startup_ms',
  'rss_mib',
  'serial_cps',
  'serial_p50_us',
  'serial_p99_us',
  'conc_cps',
  'payload_mbs',
  'bulk_mbs',
] as const;

function fmt(v: number): string {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  return a >= 1000 ? Math.round(v).toString() : a >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function cell(values: number[] | undefined): string {
  if (!values || values.length === 0) return '—';
  return `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
}

function mainTable(present: readonly ContenderId[]): string {
  const rows = [
    `| contender | ${FIELDS.join(' | ')} |`,
    `|---|${FIELDS.map(() => '---:').join('|')}|`,
  ];
  for (const c of CONTENDERS) {
    if (!present.includes(c.id)) continue;
    const m = samples.get(c.id);
    rows.push(`| ${c.label} | ${FIELDS.map((f) => cell(m?.get(f))).join(' | ')} |`);
  }
  return rows.join('\n');
}

function cpuTable(present: readonly ContenderId[]): string {
  const rows = [
    '| contender | serial: CPU µs/call (host+plugin) | 64 in flight: host µs/call | 64 in flight: plugin µs/call | 1 MiB echo: CPU ms/MiB |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const c of CONTENDERS) {
    if (!present.includes(c.id)) continue;
    const m = samples.get(c.id);
    rows.push(
      `| ${c.label} | ${['serial_cpu_us', 'conc_host_cpu_us', 'conc_plugin_cpu_us', 'payload_cpu_ms_per_mib'].map((f) => cell(m?.get(f))).join(' | ')} |`,
    );
  }
  return rows.join('\n');
}

function bulkTable(): string {
  const rows = [
    '| path (plugin → host, 64 KiB writes) | MB/s | CPU ms/MiB (host+plugin) |',
    '|---|---:|---:|',
  ];
  for (const p of BULK_PATHS) {
    const m = samples.get(`bulk:${p.id}:${p.via}`);
    if (!m) continue;
    rows.push(`| ${p.label} | ${cell(m.get('mbs'))} | ${cell(m.get('cpu_ms_per_mib'))} |`);
  }
  return rows.join('\n');
}

interface Target {
  what: string;
  field: string;
  against: ContenderId;
  /** ratio: mine/theirs ≥ goal; diff: mine − theirs ≤ goal. */
  kind: 'ratio' | 'diff';
  goal: number;
  /**
   * A bulk path instead of the contenders' main row: the samples of
   * `bulk:<contender>:<mine>` against `bulk:<against>:<theirs>`.
   */
  bulk?: { mine: string; theirs: string };
}

const TARGETS: Target[] = [
  {
    what: 'serial calls/s ≥ 0.85× raw floor',
    field: 'serial_cps',
    against: 'raw',
    kind: 'ratio',
    goal: 0.85,
  },
  {
    what: 'serial calls/s ≥ 1.2× go-plugin',
    field: 'serial_cps',
    against: 'go',
    kind: 'ratio',
    goal: 1.2,
  },
  {
    what: '64 in flight ≥ 0.7× raw floor',
    field: 'conc_cps',
    against: 'raw',
    kind: 'ratio',
    goal: 0.7,
  },
  {
    what: '64 in flight ≥ 2.5× go-plugin',
    field: 'conc_cps',
    against: 'go',
    kind: 'ratio',
    goal: 2.5,
  },
  {
    what: '1 MiB echo ≥ 0.9× raw floor (msgpack)',
    field: 'payload_mbs',
    against: 'raw',
    kind: 'ratio',
    goal: 0.9,
  },
  // The raw MuxBroker stream (measured for plugwire msgpack only: it carries bytes, no
  // codec), not the SDK's Readable over it (the main table's bulk_mbs).
  {
    what: 'raw broker stream ≥ 0.6× raw floor socket',
    field: 'mbs',
    against: 'raw',
    kind: 'ratio',
    goal: 0.6,
    bulk: { mine: 'broker', theirs: 'socket' },
  },
  {
    what: "raw broker stream ≥ go-plugin's MuxBroker",
    field: 'mbs',
    against: 'go',
    kind: 'ratio',
    goal: 1,
    bulk: { mine: 'broker', theirs: 'sdk' },
  },
  {
    what: 'startup ≤ raw floor + 10 ms',
    field: 'startup_ms',
    against: 'raw',
    kind: 'diff',
    goal: 10,
  },
  {
    what: 'plugin RSS ≤ raw floor + 8 MiB',
    field: 'rss_mib',
    against: 'raw',
    kind: 'diff',
    goal: 8,
  },
];

/** Per-round ratios (or differences), so both figures of each come from the same minute. */
function perRound(mine: string, t: Target): number[] {
  const a = samples.get(t.bulk ? `bulk:${mine}:${t.bulk.mine}` : mine)?.get(t.field) ?? [];
  const b =
    samples.get(t.bulk ? `bulk:${t.against}:${t.bulk.theirs}` : t.against)?.get(t.field) ?? [];
  const n = Math.min(a.length, b.length);
  return Array.from({ length: n }, (_, i) => (t.kind === 'ratio' ? a[i]! / b[i]! : a[i]! - b[i]!));
}

function targetTable(): string {
  const rows = ['| target | plugwire msgpack | | plugwire json | |', '|---|---:|:---:|---:|:---:|'];
  for (const t of TARGETS) {
    const cells = (['plugwire-msgpack', 'plugwire-json'] as const).map((mine) => {
      const v = perRound(mine, t);
      if (v.length === 0) return '— | ';
      const m = median(v);
      const shown = t.kind === 'ratio' ? `${m.toFixed(2)}×` : `${m >= 0 ? '+' : ''}${m.toFixed(1)}`;
      const range =
        t.kind === 'ratio'
          ? ` (${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)})`
          : ` (${Math.min(...v).toFixed(1)}…${Math.max(...v).toFixed(1)})`;
      const ok = t.kind === 'ratio' ? m >= t.goal : m <= t.goal;
      return `${shown}${range} | ${ok ? '✓' : '✗'}`;
    });
    rows.push(`| ${t.what} | ${cells.join(' | ')} |`);
  }
  return rows.join('\n');
}

function scaleSection(s: Scale): string {
  const out: string[] = [];
  if (s.streams) {
    const m = median(s.streams.runs);
    out.push(
      `- **${s.streams.n} concurrent streams on one session** (plugwire msgpack; each a broker ` +
        `stream: dial + ack, 40 bytes echoed, FIN both ways): ${fmt(m)} ms ` +
        `(${s.streams.runs.map(fmt).join(', ')}), ${fmt((m * 1000) / s.streams.n)} µs per stream.`,
    );
  }
  if (s.slow) {
    const r = s.slow;
    const n = (k: string) => fmt(Number(r[k]));
    out.push(
      `- **Slow reader** (a fresh plugin offers 256 MiB of fresh 64 KiB buffers as a byte ` +
        `stream; the host reads 1 MiB/s for ${n('seconds')} s): ${n('read_mib')} MiB read, ` +
        `${n('produced_mib')} MiB produced by the plugin: it was held ${n('ahead_kib')} KiB ` +
        `ahead of the reader (the 256 KiB window plus stream buffers). Plugin RSS ` +
        `${n('plugin_rss_before_mib')} → max ${n('plugin_rss_max_mib')} MiB; host RSS ` +
        `${n('host_rss_before_mib')} → max ${n('host_rss_max_mib')} MiB, host buffers ` +
        `(\`arrayBuffers\`) ${n('host_buffers_before_mib')} → max ${n('host_buffers_max_mib')} MiB. ` +
        `The plugin still answered after the reader gave up.`,
    );
  }
  if (s.many.length > 0) {
    out.push(
      '',
      '| 100 plugins started at once by one host | total time ms | plugins RSS MiB (sum) | host RSS MiB |',
      '|---|---:|---:|---:|',
    );
    for (const m of s.many) {
      const label = CONTENDERS.find((c) => c.id === m.id)!.label;
      out.push(
        `| ${label} ×${m.n} | ${fmt(Number(m.r.total_ms))} | ${fmt(Number(m.r.plugins_rss_mib))} | ${fmt(Number(m.r.host_rss_mib))} |`,
      );
    }
  }
  return out.join('\n');
}

function machine(): string {
  const c = cpus();
  return `${c.length} cores, ${c[0]?.model.trim() ?? 'unknown CPU'}`;
}

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: repo,
      encoding: 'utf8',
    }).trim();
    return sha;
  } catch {
    return 'unknown';
  }
}

const BEGIN = '<!-- bench:begin (written by `pnpm bench`; edit outside these markers) -->';
const END = '<!-- bench:end -->';

function writeDoc(file: string, body: string): void {
  const block = `${BEGIN}\n${body}\n${END}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const a = text.indexOf(BEGIN.slice(0, 20));
  const b = text.indexOf(END);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + END.length);
  else text = `# Benchmarks\n\n${block}\n${text ? `\n${text}` : ''}`;
  writeFileSync(file, text);
}

/**
 * Last resort after the drivers are gone: any process whose command line names the run's
 * temp dir is one of ours (every driver and plugin gets it as an argument, the Go binary
 * lives in it). A go-plugin 1.0.1 plugin outlives a host that was SIGKILLed, for one.
 */
function killStragglers(dir: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) {
        process.kill(Number(entry), 'SIGKILL');
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
}

// ---- main ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const load0 = loadavg();
  const dir = mkdtempSync(join(opt('--tmpdir') ?? tmpdir(), 'plugwire-bench-'));
  const drivers: Driver[] = [];
  // Ctrl-C or SIGTERM: no process or temp dir left behind.
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: stopping the drivers`);
    void Promise.race([
      Promise.all(drivers.map((d) => d.close())),
      new Promise((r) => setTimeout(r, 3_000)),
    ]).then(() => {
      for (const d of drivers) d.kill();
      killStragglers(dir);
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const notes: string[] = [];
  let scaleResult: Scale = { many: [] };
  try {
    const wanted = CONTENDERS.map((c) => c.id).filter((id) => !only || only.includes(id));
    let goBinary: string | undefined;
    let goVersion = '';
    if (wanted.includes('go')) {
      if (has('--no-go')) notes.push('go-plugin skipped: --no-go');
      else {
        progress('building the go-plugin contender… ');
        const g = buildGo(dir);
        if ('skipped' in g) notes.push(`go-plugin skipped: ${g.skipped}`);
        else {
          goBinary = g.binary;
          goVersion = g.version;
        }
        progress('done\n');
      }
    }
    for (const n of notes) console.log(`note: ${n}`);
    const ids = wanted.filter((id) => id !== 'go' || goBinary);
    for (const id of ids) drivers.push(startDriver(id, dir, goBinary));
    // Long-lived plugins for the throughput workloads, warmed up.
    // Every contender, and every bulk path it has, gets the same warm-up.
    const warm = quick
      ? { serial: 100, conc: 500, payload: 1, bulk: 2 ** 20 }
      : { serial: 3000, conc: 30_000, payload: 5, bulk: 32 * 2 ** 20 };
    for (const d of drivers) {
      const vias = BULK_PATHS.filter((p) => p.id === d.id).map((p) => p.via);
      await d.send({ op: 'start', warm: { ...warm, vias } });
    }
    for (let round = 0; round < rounds; round++) await measureRound(drivers, round);
    const loadRounds = loadavg();
    if (scale) scaleResult = await measureScale(drivers);
    for (const d of drivers) await d.send({ op: 'stop' });
    const present = drivers.map((d) => d.id);
    const body = [
      `Run of ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit()}: ` +
        `Node ${process.version}${goVersion ? `, ${goVersion}` : ''}, ${machine()}, load average ` +
        `${load0[0]!.toFixed(2)} at the start and ${loadRounds[0]!.toFixed(2)} after the rounds ` +
        `(other work shared the machine). ${quick ? '**Quick mode: tiny counts, not a measurement.** ' : ''}` +
        `${rounds} interleaved rounds (startup, 64 in flight and echo in ${W.slices} interleaved ` +
        `slices each); each cell is the median of the rounds (min–max).` +
        (notes.length ? `\n\n${notes.map((n) => `Note: ${n}`).join('\n')}` : ''),
      '',
      `Workload: startup = spawn → handshake → connect → first \`add(1,2)\` result (median of ` +
        `${W.startups} cold starts per round), rss = plugin VmRSS right after it; serial = ` +
        `${W.serialCalls} \`add\` calls one in flight; conc = ${W.concCalls} calls, ${W.window} in ` +
        `flight (sliding window); payload = ${W.payloadEchoes} echoes of ${W.payloadSize / 2 ** 20} MiB ` +
        `random bytes (counted once); bulk = plugin → host ${W.bulkSize / 2 ** 20} MiB in ` +
        `${W.bulkChunk / 1024} KiB writes, ${W.bulkTransfers} transfers per round (plugwire: the ` +
        `SDK's byte stream over a broker stream; the raw broker stream is in "Bulk transfer by layer").`,
      '',
      mainTable(present),
      '',
      '### Against the targets',
      '',
      'Median of the per-round ratios (min–max), or of the per-round differences for startup (ms) and RSS (MiB).',
      '',
      targetTable(),
      '',
      '### CPU per unit of work',
      '',
      cpuTable(present),
      '',
      '### Bulk transfer by layer',
      '',
      bulkTable(),
      '',
      '### Scale',
      '',
      scaleSection(scaleResult),
    ].join('\n');
    console.log(`\n${body}`);
    if (outFile) {
      writeDoc(outFile, body);
      console.log(`\nwritten to ${outFile}`);
    }
    const json = opt('--json');
    if (json) {
      writeFileSync(
        json,
        JSON.stringify(
          {
            samples: Object.fromEntries([...samples].map(([k, m]) => [k, Object.fromEntries(m)])),
            startups: Object.fromEntries(allStartups),
            scale: scaleResult,
          },
          null,
          1,
        ),
      );
    }
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
    killStragglers(dir);
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

await main();
