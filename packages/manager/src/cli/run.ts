// `plugwire run`: starts every plugin, keeps them supervised (and watched), and shows their
// states: redrawn in place on a terminal, else the table once and a line per change.
import { createServer, type Server } from 'node:http';
import pc from 'picocolors';
import type { PluginManager, StateChange, WatchEvent } from '../manager.js';
import { colourState, errorLines, firstLine, stateTable } from './format.js';

/** Serves a control plane for the manager (given by @plugwire/control's bin). */
export type ControlHook = (
  manager: PluginManager,
  o: { port: number | undefined },
) => Promise<{ describe(): string[]; close(): Promise<void> }>;

export interface RunOptions {
  watch: boolean;
  live: boolean;
  metricsPort: number | undefined;
  /** Serves the control API; undefined serves none. */
  control?: ControlHook | undefined;
  /** Also serve the control plane on 127.0.0.1 at this port. */
  controlPort?: number | undefined;
}

// Event lines under the live table: enough for an error with its file:line:col and a few
// stderr lines, few enough that table and events fit a 40-line terminal.
const EVENTS_SHOWN = 12;

export async function run(open: () => PluginManager, o: RunOptions): Promise<number> {
  const manager = open();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const events: string[] = [];
  let drawn = 0;
  let closing = false;

  const draw = async () => {
    if (!o.live || closing) return;
    const lines = [
      header(manager, o),
      ...stateTable(manager.list(), await manager.metrics()),
      '',
      ...events.slice(-EVENTS_SHOWN),
    ];
    // Move up over the last frame, clear to the end, draw the new one.
    process.stdout.write(`${drawn ? `\x1b[${drawn}A\x1b[0J` : ''}${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const event = (line: string) => {
    const stamped = `${pc.dim(new Date().toTimeString().slice(0, 8))} ${line}`;
    if (o.live) {
      events.push(stamped);
      if (events.length > EVENTS_SHOWN) events.shift();
      void draw();
    } else out(stamped);
  };

  // Listen from the start: a Ctrl-C while plugins load stops them once loading is done.
  // (`on`, not `once`: while a listener of ours is there, core's cleanup on the signal does
  // not re-raise it to end the process before the manager has closed.)
  let onSignal!: (s: NodeJS.Signals) => void;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  manager.on('state', (c) => event(describeChange(c)));
  manager.on('watch', (w) => {
    // An error comes whole as a warning too; here the one-line summary.
    if (w.action !== 'unchanged') event(describeWatch(w, running(manager, w.plugin)));
  });
  // Errors whole: a compile error's file:line:col and a plugin's stderr are in later lines.
  const eventError = (prefix: string, err: unknown) => {
    const [first, ...rest] = errorLines(err);
    event(`${prefix} ${first}`);
    for (const l of rest) event(`  ${l}`);
  };
  manager.on('warning', (err) => eventError(pc.yellow('warning'), err));

  if (!o.live) out(header(manager, o));
  // Before loading: a command in another terminal finds this host while plugins still load.
  let control: Awaited<ReturnType<ControlHook>> | undefined;
  if (o.control) {
    try {
      control = await o.control(manager, { port: o.controlPort });
      for (const line of control.describe()) event(line);
    } catch (err) {
      // Without its control plane the host still runs its plugins; say why it is missing.
      event(`${pc.yellow('warning')} no control API: ${firstLine((err as Error).message)}`);
    }
  }
  const { errors } = await manager.loadAll();
  for (const e of errors) eventError(pc.red('✗'), e.error);
  if (o.watch) await manager.watch();
  let server: Server | undefined;
  if (o.metricsPort !== undefined) server = await serveMetrics(manager, o.metricsPort, event);

  if (o.live) await draw();
  else for (const l of stateTable(manager.list(), await manager.metrics())) out(l);
  const timer = o.live ? setInterval(() => void draw(), 1000) : undefined;

  const got = await signal;
  clearInterval(timer);
  if (o.live) await draw();
  closing = true;
  out(`plugwire run: ${got}, stopping ${manager.list().length} plugin(s)`);
  await control?.close();
  await manager.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  out('plugwire run: stopped');
  return 0;
}

function header(manager: PluginManager, o: RunOptions): string {
  const where = manager.dirs.length ? manager.dirs.join(', ') : '(no plugin directory)';
  return `${pc.bold('plugwire run')}: plugins from ${where}${o.watch ? ', watching for changes' : ''}; Ctrl-C stops`;
}

function describeChange(c: StateChange): string {
  const i = c.info;
  let detail = '';
  if (c.to === 'running') detail = ` (pid ${i.pid}, v${i.version})`;
  else if (c.to === 'crashed' || c.to === 'failed') {
    const exit = i.exitSignal
      ? `killed by ${i.exitSignal}`
      : i.exitCode !== undefined && i.exitCode !== null
        ? `exit code ${i.exitCode}`
        : '';
    const retry =
      c.to === 'crashed' && i.retryAt
        ? `, restart in ${Math.max(0, i.retryAt - Date.now())} ms`
        : '';
    const why = c.to === 'failed' && i.lastError ? `: ${firstLine(i.lastError.message)}` : '';
    detail = ` (${[exit, retry.slice(2)].filter(Boolean).join(', ')})${why}`.replace(' ()', '');
  }
  return `${pc.bold(c.plugin)} ${colourState(c.from)} → ${colourState(c.to)}${detail}`;
}

/** True when `plugin` is loaded and serving. */
function running(manager: PluginManager, plugin: string | undefined): boolean {
  return (
    plugin !== undefined && manager.list().some((p) => p.name === plugin && p.state === 'running')
  );
}

function describeWatch(w: WatchEvent, serving: boolean): string {
  const what = w.plugin ? pc.bold(w.plugin) : w.folder;
  if (w.action === 'error')
    return `${pc.red('✗')} ${what}: ${firstLine(w.error?.message ?? 'error')}${serving ? ' (the running version stays)' : ''}`;
  return `${what} ${w.action} (${w.folder} changed)`;
}

async function serveMetrics(
  manager: PluginManager,
  port: number,
  event: (line: string) => void,
): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (type: string, body: string) => {
      res.writeHead(200, { 'content-type': type });
      res.end(body);
    };
    if (req.url === '/metrics') {
      manager.prometheus().then((t) => send(manager.registry.contentType, t));
    } else if (req.url === '/metrics.json') {
      manager.metrics().then((m) => send('application/json', `${JSON.stringify(m, null, 2)}\n`));
    } else {
      res.writeHead(404).end('try /metrics or /metrics.json\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const addr = server.address();
  event(
    `metrics on http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}/metrics`,
  );
  return server;
}
