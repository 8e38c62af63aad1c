// The `plugwire` command: list, inspect, call, new, run, pack. Built with commander (the
// most used CLI library for Node, typed, no dependencies).

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeSandbox } from '@plugwire/sandbox';
import { Command, CommanderError, Option } from 'commander';
import pc from 'picocolors';
import { packBundle } from '../bundle.js';
import { findConfig } from '../config-file.js';
import { type ManagerOptions, PluginManager } from '../manager.js';
import { conformanceCommand } from './conformance.js';
import { bytes, colourState, duration, errorLines, table, toJson } from './format.js';
import {
  hostedAction,
  hostedCall,
  hostedInspect,
  hostedList,
  hostedLogs,
  reachHost,
} from './hosted.js';
import { type ControlHook, run } from './run.js';
import { scaffold } from './scaffold.js';

interface GlobalOptions {
  config?: string;
  dir?: string[];
  cacheDir?: string;
  color?: boolean;
  host?: string;
}

/** What a program embedding this CLI adds (the `plugwire` bin of @plugwire/control). */
export interface CliHooks {
  /** Serves the control plane of `plugwire run`'s manager; without it `run` serves none. */
  control?: ControlHook;
}

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[], hooks: CliHooks = {}): Promise<number> {
  let code = 0;
  const program = new Command('plugwire')
    .description(
      'Manage plugwire plugins: list, inspect and call them, scaffold new ones, run a host',
    )
    .version(version)
    .option(
      '-c, --config <file>',
      'host config file (default: ./plugwire.config.json or .toml if present)',
    )
    .option('-d, --dir <dir...>', 'plugin directories (default: ./plugins if present)')
    .option(
      '--cache-dir <dir>',
      'cache for compiled, installed and cloned plugins (default: ~/.cache/plugwire)',
    )
    .option('--no-color', 'no colours (also: NO_COLOR=1)')
    .option(
      '--host <socket|url>',
      'the running host to talk to (also: PLUGWIRE_HOST; default: the socket next to the plugin directory)',
    )
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(pc.red(s)) });
  const globals = () => program.opts<GlobalOptions>();
  const act =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      code = await fn(...args);
    };

  program
    .command('list')
    .description('list the plugins of the plugin directories and the config file')
    .option('--json', 'print JSON')
    .action(act((o: { json?: boolean }) => list(globals(), o)));

  program
    .command('inspect')
    .description("show a plugin's manifest, source, state and methods (starts it to ask it)")
    .argument('<plugin>', 'plugin name (or name@range)')
    .option('--json', 'print JSON')
    .action(act((name: string, o: { json?: boolean }) => inspect(globals(), name, o)));

  program
    .command('call')
    .description('call a method of a plugin and print the result as JSON')
    .argument('<plugin>', 'plugin name (or name@range)')
    .argument('<method>', 'method name')
    .argument('[json]', 'the arguments: a JSON array, or one JSON value', '[]')
    .option('-i, --interface <name>', 'the plugin interface, when the plugin serves several')
    .action(
      act((name: string, method: string, json: string, o: { interface?: string }) =>
        call(globals(), name, method, json, o),
      ),
    );

  program
    .command('logs')
    .description('print the last log lines of a plugin of the running host')
    .argument('<plugin>', 'plugin name')
    .option('-n, --lines <n>', 'how many lines', '100')
    .option('-f, --follow', 'keep printing new lines (Ctrl-C stops)')
    .action(
      act(async (name: string, o: { lines: string; follow?: boolean }) =>
        hostedLogs((await host(globals(), true))!, name, o),
      ),
    );

  for (const [action, what] of [
    ['start', 'start a plugin of the running host (also one that failed)'],
    ['stop', 'stop a plugin of the running host (calls in flight finish first)'],
    ['restart', 'restart a plugin of the running host (a new process)'],
    ['reload', 'reload a plugin of the running host from its source (hot upgrade)'],
  ] as const) {
    program
      .command(action)
      .description(what)
      .argument('<plugin>', 'plugin name')
      .action(
        act(async (name: string) => hostedAction((await host(globals(), true))!, action, name)),
      );
  }

  program
    .command('new')
    .description('scaffold a TypeScript plugin with a test that passes')
    .argument('<name>', 'plugin name: lower-case letters, digits, "-", "_", "."')
    .option('--into <dir>', 'parent folder', '.')
    .action(act((name: string, o: { into: string }) => scaffold(name, resolve(o.into))));

  program
    .command('run')
    .description('start every plugin and show a live table of their states (Ctrl-C stops)')
    .argument('[dir]', "plugin directory (default: the config file's, or ./plugins)")
    .option('--no-watch', 'do not load, unload or upgrade plugins when their folders change')
    .addOption(new Option('--live', 'redraw the table in place (default on a terminal)'))
    .addOption(new Option('--no-live', 'print the table once, then one line per change'))
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics on 127.0.0.1:<port>/metrics (and /metrics.json)',
    )
    .option(
      '--control-port <port>',
      'serve the control API and dashboard on 127.0.0.1:<port> too (bearer token in a 0600 file)',
    )
    .option(
      '--no-control',
      'serve no control socket (other plugwire commands cannot reach this host)',
    )
    .action(
      act(
        (
          dir: string | undefined,
          o: {
            watch: boolean;
            live?: boolean;
            metricsPort?: string;
            controlPort?: string;
            control: boolean;
          },
        ) =>
          run(() => open(globals(), { autoStart: true, ...(dir ? { dirs: [dir] } : {}) }), {
            watch: o.watch,
            live: o.live ?? Boolean(process.stdout.isTTY),
            metricsPort: o.metricsPort === undefined ? undefined : Number(o.metricsPort),
            control: o.control ? hooks.control : undefined,
            controlPort: o.controlPort === undefined ? undefined : Number(o.controlPort),
          }),
      ),
    );

  program
    .command('pack')
    .description('pack a plugin folder into a bundle (.plugwire.tgz) and print its sha256')
    .argument('[dir]', 'plugin folder', '.')
    .option('-o, --out <dir>', 'where to write the bundle', '.')
    .action(act((dir: string, o: { out: string }) => pack(globals(), dir, o.out)));

  program
    .command('conformance')
    .description(
      'check a plugin in any language against the protocol: one pass/fail line per item (docs/protocol.md §14)',
    )
    .argument('<command...>', 'the plugin command and its arguments, after --')
    .option('--codec <codec>', 'only this codec (default: the default offer, then json only)')
    .action(act((command: string[], o: { codec?: string }) => conformanceCommand(command, o)));

  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    fail(err);
    return 1;
  }
  return code;
}

/** A manager from the global options: config file, plugin dirs, cache dir. */
function open(g: GlobalOptions, extra: ManagerOptions = {}): PluginManager {
  const configFile = g.config ?? findConfig(process.cwd());
  const dirs = [...(g.dir ?? []), ...(extra.dirs ?? [])];
  if (!configFile && dirs.length === 0 && existsSync('plugins')) dirs.push('plugins');
  const options: ManagerOptions = {
    ...extra,
    dirs,
    ...(g.cacheDir ? { cacheDir: resolve(g.cacheDir) } : {}),
  };
  return configFile ? PluginManager.fromConfig(configFile, options) : new PluginManager(options);
}

/** Writes an error whole (message, code, causes) to stderr, after `prefix`. */
function printError(prefix: string, err: unknown): void {
  const [first, ...rest] = errorLines(err);
  process.stderr.write(`${prefix} ${first ?? String(err)}\n`);
  for (const l of rest) process.stderr.write(`  ${l}\n`);
}

function fail(err: unknown): void {
  printError(pc.red('plugwire:'), err);
}

/** The running host for this command's plugin directories, if one runs (see hosted.ts). */
async function host(g: GlobalOptions, required = false) {
  const probe = open(g);
  const dirs = probe.dirs;
  await probe.close();
  return reachHost(g.host, dirs, required);
}

async function list(g: GlobalOptions, o: { json?: boolean }): Promise<number> {
  const h = await host(g);
  if (h) return hostedList(h, o);
  const manager = open(g);
  try {
    const { plugins, errors } = await manager.loadAll();
    if (o.json) {
      const out = {
        plugins,
        errors: errors.map((e) => ({
          where: e.where,
          message: e.error.message,
          code: (e.error as { code?: string }).code,
        })),
      };
      process.stdout.write(`${toJson(out)}\n`);
    } else {
      if (plugins.length === 0)
        process.stdout.write(
          `no plugins in ${manager.dirs.join(', ') || '(no plugin directory)'}\n`,
        );
      else {
        const rows = plugins.map((p) => [
          p.name,
          p.version,
          colourState(p.state),
          p.origin.kind,
          p.interfaces.join(','),
          p.description ?? '',
        ]);
        for (const l of table(
          ['NAME', 'VERSION', 'STATE', 'SOURCE', 'INTERFACES', 'DESCRIPTION'],
          rows,
        )) {
          process.stdout.write(`${l}\n`);
        }
      }
      for (const e of errors) printError(pc.red('✗'), e.error);
    }
    return errors.length ? 1 : 0;
  } finally {
    await manager.close();
  }
}

async function inspect(g: GlobalOptions, ref: string, o: { json?: boolean }): Promise<number> {
  const h = await host(g);
  if (h) return hostedInspect(h, ref, o);
  const manager = open(g);
  try {
    if (!(await loadFor(manager, ref))) return 1;
    const x = await manager.inspect(ref, { start: true });
    if (o.json) {
      process.stdout.write(`${toJson(x)}\n`);
      return 0;
    }
    const m = x.manifest;
    const i = x.info;
    const rows: Array<[string, string]> = [
      ['description', m.description ?? '-'],
      ['home', m.home ?? '-'],
      [
        'maintainers',
        m.maintainers.map((p) => (p.email ? `${p.name} <${p.email}>` : p.name)).join(', ') || '-',
      ],
      [
        'entry',
        m.entry.kind === 'node' ? m.entry.file : [m.entry.command, ...m.entry.args].join(' '),
      ],
      ['directory', i.dir],
      [
        'source',
        `${i.origin.kind} ${i.origin.spec}${i.origin.resolved ? ` (${i.origin.resolved})` : ''}${i.origin.cached ? ', cached' : ''}`,
      ],
      ...(i.origin.build
        ? [
            ['build', `${i.origin.build.outFile}${i.origin.build.rebuilt ? '' : ' (cached)'}`] as [
              string,
              string,
            ],
          ]
        : []),
      [
        'protocol',
        `versions ${m.protocolVersions.join(', ')}${x.process ? `; running v${x.process.protocolVersion}, ${x.process.codec}` : ''}`,
      ],
      [
        'state',
        `${colourState(i.state)}${i.pid ? `, pid ${i.pid}` : ''}${i.uptimeMs !== undefined ? `, up ${duration(i.uptimeMs)}` : ''}`,
      ],
      ['config schema', m.configSchema ? JSON.stringify(m.configSchema) : '-'],
      [
        'sandbox',
        x.sandbox ? describeSandbox(x.sandbox) : m.sandbox ? JSON.stringify(m.sandbox) : '-',
      ],
    ];
    const out = [`${pc.bold(m.name)} ${m.version}`];
    for (const [k, v] of rows) out.push(`  ${pc.dim(k.padEnd(14))}${v}`);
    out.push(`  ${pc.dim('methods')}`);
    for (const [iface, methods] of Object.entries(x.methods)) {
      out.push(`    ${iface}: ${methods ? methods.join(', ') : pc.dim('(not declared)')}`);
    }
    const metrics = (await manager.metrics())[m.name];
    if (metrics?.rssBytes !== undefined)
      out.push(`  ${pc.dim('rss'.padEnd(14))}${bytes(metrics.rssBytes)}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await manager.close();
  }
}

async function call(
  g: GlobalOptions,
  ref: string,
  method: string,
  json: string,
  o: { interface?: string },
): Promise<number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new Error(`the arguments must be JSON (an array for several): ${(err as Error).message}`);
  }
  const args = Array.isArray(parsed) ? parsed : [parsed];
  const h = await host(g);
  if (h) return hostedCall(h, ref, method, args, o);
  const manager = open(g);
  try {
    if (!(await loadFor(manager, ref))) return 1;
    try {
      const result = await manager.call(
        ref,
        method,
        args,
        o.interface ? { interface: o.interface } : {},
      );
      process.stdout.write(`${toJson(result ?? null)}\n`);
      return 0;
    } catch (err) {
      printError(`${pc.red('plugwire:')} ${ref}.${method} failed:`, err);
      return 1;
    }
  } finally {
    await manager.close();
  }
}

/**
 * Loads everything; resolves false (having said why) when the plugin is not loaded: the
 * errors of loading it when there are any, else every load error and that no plugin of that
 * name is there. Nothing more is printed then: the cause, not its consequences.
 */
async function loadFor(manager: PluginManager, ref: string): Promise<boolean> {
  const { errors } = await manager.loadAll();
  const name = ref.replace(/@.*$/, '');
  if (manager.list().some((p) => p.name === name)) return true;
  const own = errors.filter((e) => (e.error as { plugin?: unknown }).plugin === name);
  for (const e of own.length ? own : errors) printError(pc.red('✗'), e.error);
  if (own.length === 0) {
    const loaded = manager.list().map((p) => p.name);
    printError(
      pc.red('plugwire:'),
      new Error(`no plugin "${name}" is loaded (loaded: ${loaded.join(', ') || 'none'})`),
    );
  }
  return false;
}

async function pack(g: GlobalOptions, dir: string, out: string): Promise<number> {
  const manager = open(g);
  try {
    const b = await packBundle(resolve(dir), resolve(out), {
      cacheDir: manager.cacheDir,
      baseDir: process.cwd(),
    });
    process.stdout.write(
      `${b.file}\nsha256 ${b.sha256}\n\nin plugwire.config.json:\n  "${b.manifest.name}": { "source": { "bundle": "${b.file}", "sha256": "${b.sha256}" } }\n`,
    );
    return 0;
  } finally {
    await manager.close();
  }
}
