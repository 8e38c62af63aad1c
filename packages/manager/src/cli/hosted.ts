// The commands as they run against a running host (`plugwire run` in another terminal):
// list, inspect, call, logs, start, stop, restart over its control API. Each says on stderr
// which host it talks to, or that it found none and loads the plugins itself.
import pc from 'picocolors';
import type { PluginState } from '../state.js';
import { bytes, colourState, duration, firstLine, table, toJson } from './format.js';
import { findHost, HostClient, HostError } from './remote.js';

/** One plugin as the host's /api/plugins lists it (the fields the CLI prints). */
interface Row {
  name: string;
  version: string;
  state: PluginState;
  pid: number | undefined;
  uptimeMs: number | undefined;
  restarts: number;
  calls: number;
  errors: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  rssBytes: number | undefined;
  lastError: { message: string; code: string | undefined } | undefined;
  description: string | undefined;
}

const note = (line: string) => process.stderr.write(`${pc.dim(`plugwire: ${line}`)}\n`);

/**
 * The running host to talk to, or undefined to work in-process. `required` commands (logs,
 * start, stop, restart) have no in-process meaning: without a host they fail.
 */
export async function reachHost(
  flag: string | undefined,
  dirs: readonly string[],
  required: boolean,
): Promise<HostClient | undefined> {
  const found = findHost({ flag, dirs });
  if ('none' in found) {
    if (required) {
      throw new HostError(
        'PLUGWIRE_NO_HOST',
        `no running host found (${found.none}); start one with \`plugwire run\`, or name it with --host or PLUGWIRE_HOST`,
      );
    }
    note(`no running host (${found.none}); loading the plugins in this process`);
    return undefined;
  }
  const client = new HostClient(found);
  try {
    const hello = await client.request<{ pid: number }>('GET', '/api');
    note(`talking to the host at ${found.target} (pid ${hello.pid}, found by ${found.how})`);
    return client;
  } catch (err) {
    // A socket left by a host that died is no host; a host named on purpose must answer.
    const stale = err instanceof HostError && err.code === 'PLUGWIRE_HOST_UNREACHABLE';
    if (stale && !required && found.how.startsWith('the socket')) {
      note(
        `no host answers at ${found.target} (a stale socket); loading the plugins in this process`,
      );
      return undefined;
    }
    throw err;
  }
}

export async function hostedList(host: HostClient, o: { json?: boolean }): Promise<number> {
  const { plugins } = await host.request<{ plugins: Row[] }>('GET', '/api/plugins');
  if (o.json) {
    process.stdout.write(`${toJson({ plugins, errors: [] })}\n`);
    return 0;
  }
  if (plugins.length === 0) {
    process.stdout.write('the host has no plugins loaded\n');
    return 0;
  }
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(v < 10 ? 2 : 0)}ms`);
  const rows = plugins.map((p) => [
    p.name,
    p.version,
    colourState(p.state),
    p.pid ? String(p.pid) : '-',
    duration(p.uptimeMs),
    String(p.restarts),
    String(p.calls),
    String(p.errors),
    `${ms(p.p50Ms)}/${ms(p.p99Ms)}`,
    bytes(p.rssBytes),
    p.lastError ? pc.red(firstLine(p.lastError.message).slice(0, 60)) : (p.description ?? ''),
  ]);
  const header = [
    'NAME',
    'VERSION',
    'STATE',
    'PID',
    'UPTIME',
    'RESTARTS',
    'CALLS',
    'ERRORS',
    'P50/P99',
    'RSS',
    'LAST ERROR / DESCRIPTION',
  ];
  for (const l of table(header, rows)) process.stdout.write(`${l}\n`);
  return 0;
}

export async function hostedInspect(
  host: HostClient,
  name: string,
  o: { json?: boolean },
): Promise<number> {
  const x = await host.request<{
    plugin: Row;
    manifest: { description?: string; entry: unknown; protocolVersions: number[] };
    methods: Record<string, string[] | null>;
    configSchema: unknown;
    process: { pid: number; protocolVersion: number; codec: string } | null;
    dir: string;
    states: Array<{ time: number; from: string; to: string }>;
  }>('GET', `/api/plugins/${encodeURIComponent(name)}`);
  if (o.json) {
    process.stdout.write(`${toJson(x)}\n`);
    return 0;
  }
  const p = x.plugin;
  const out = [`${pc.bold(p.name)} ${p.version}`];
  const kv = (k: string, v: string) => out.push(`  ${pc.dim(k.padEnd(14))}${v}`);
  kv('description', p.description ?? '-');
  kv('directory', x.dir);
  kv(
    'state',
    `${colourState(p.state)}${p.pid ? `, pid ${p.pid}` : ''}${p.uptimeMs !== undefined ? `, up ${duration(p.uptimeMs)}` : ''}`,
  );
  kv(
    'protocol',
    `versions ${x.manifest.protocolVersions.join(', ')}${x.process ? `; running v${x.process.protocolVersion}, ${x.process.codec}` : ''}`,
  );
  kv('calls', `${p.calls} (${p.errors} failed), ${p.restarts} restart(s)`);
  kv('config schema', x.configSchema ? JSON.stringify(x.configSchema) : '-');
  if (p.rssBytes !== undefined) kv('rss', bytes(p.rssBytes));
  out.push(`  ${pc.dim('methods')}`);
  for (const [iface, methods] of Object.entries(x.methods)) {
    out.push(`    ${iface}: ${methods ? methods.join(', ') : pc.dim('(not declared)')}`);
  }
  if (x.states.length) {
    out.push(`  ${pc.dim('recent states')}`);
    for (const s of x.states.slice(-10)) {
      out.push(`    ${new Date(s.time).toTimeString().slice(0, 8)} ${s.from} → ${s.to}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

export async function hostedCall(
  host: HostClient,
  ref: string,
  method: string,
  args: unknown[],
  o: { interface?: string },
): Promise<number> {
  try {
    const r = await host.request<{ result: unknown }>(
      'POST',
      `/api/plugins/${encodeURIComponent(ref)}/call`,
      {
        method,
        args,
        ...(o.interface ? { interface: o.interface } : {}),
      },
    );
    process.stdout.write(`${toJson(r.result ?? null)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof HostError) || err.status === undefined) throw err;
    process.stderr.write(
      `${pc.red('plugwire:')} ${ref}.${method} failed: ${err.message} (${err.code})\n`,
    );
    return 1;
  }
}

interface LogLine {
  time: number;
  plugin: string;
  level: string;
  message: string;
}

function printLog(l: LogLine, withName: boolean): void {
  const t = new Date(l.time).toTimeString().slice(0, 8);
  const level =
    l.level === 'error' ? pc.red(l.level) : l.level === 'warn' ? pc.yellow(l.level) : l.level;
  process.stdout.write(
    `${pc.dim(t)} ${withName ? `${pc.bold(l.plugin)} ` : ''}${level.padEnd(5)} ${l.message}\n`,
  );
}

export async function hostedLogs(
  host: HostClient,
  name: string,
  o: { lines: string; follow?: boolean },
): Promise<number> {
  const tail = () =>
    host.request<{ lines: LogLine[] }>(
      'GET',
      `/api/plugins/${encodeURIComponent(name)}/logs?lines=${encodeURIComponent(o.lines)}`,
    );
  if (!o.follow) {
    for (const l of (await tail()).lines) printLog(l, false);
    return 0;
  }
  // Subscribe first, then read the tail: no line falls between the two. Lines the stream
  // brings while the tail is read are held, and printed unless the tail had them.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  let held: LogLine[] | undefined = [];
  let failed: unknown;
  try {
    await host.events((kind, data) => {
      if (kind === 'hello') {
        tail().then(
          ({ lines }) => {
            for (const l of lines) printLog(l, false);
            const last = lines.at(-1);
            for (const l of held ?? []) {
              if (!last || l.time > last.time || !lines.some((x) => same(x, l))) printLog(l, false);
            }
            held = undefined;
            note(`following the log of ${name} (Ctrl-C stops)`);
          },
          (err: unknown) => {
            failed = err;
            stop.abort();
          },
        );
        return;
      }
      if (kind !== 'log' || (data as LogLine).plugin !== name) return;
      if (held) held.push(data as LogLine);
      else printLog(data as LogLine, false);
    }, stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
  }
  if (failed) throw failed;
  return 0;
}

function same(a: LogLine, b: LogLine): boolean {
  return a.time === b.time && a.message === b.message && a.level === b.level;
}

export async function hostedAction(
  host: HostClient,
  action: 'start' | 'stop' | 'restart' | 'reload',
  name: string,
): Promise<number> {
  const r = await host.request<{ plugin: Row }>(
    'POST',
    `/api/plugins/${encodeURIComponent(name)}/${action}`,
  );
  const p = r.plugin;
  process.stdout.write(
    `${pc.bold(p.name)} ${colourState(p.state)}${p.pid ? ` (pid ${p.pid})` : ''}\n`,
  );
  return 0;
}
