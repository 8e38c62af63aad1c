// Tables and numbers for the terminal. Colours come from picocolors, which turns itself off
// when stdout is not a terminal, with NO_COLOR, or with --no-color (FORCE_COLOR turns it on).
import pc from 'picocolors';
import type { PluginInfo } from '../managed-plugin.js';
import type { PluginMetrics } from '../metrics.js';
import type { PluginState } from '../state.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences
const ANSI = /\x1b\[[0-9;]*m/g;

export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

/** Columns padded to the widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) =>
    Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visibleLength(c))))
      .join('  ')
      .trimEnd();
  return [line(header.map((h) => pc.bold(h))), ...rows.map(line)];
}

export function colourState(s: PluginState): string {
  switch (s) {
    case 'running':
      return pc.green(s);
    case 'starting':
    case 'upgrading':
    case 'stopping':
      return pc.yellow(s);
    case 'crashed':
    case 'failed':
      return pc.red(s);
    default:
      return pc.dim(s);
  }
}

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The live table of `plugwire run`. */
export function stateTable(
  plugins: PluginInfo[],
  metrics: Record<string, PluginMetrics>,
): string[] {
  return table(
    [
      'NAME',
      'VERSION',
      'STATE',
      'PID',
      'UPTIME',
      'RESTARTS',
      'CALLS',
      'ERRORS',
      'RSS',
      'CPU',
      'LAST ERROR',
    ],
    plugins.map((p) => {
      const m = metrics[p.name];
      const err = p.lastError ? firstLine(p.lastError.message) : '-';
      return [
        p.name,
        p.version,
        colourState(p.state),
        p.pid ? String(p.pid) : '-',
        duration(p.uptimeMs),
        String(p.restarts),
        String(m?.calls ?? 0),
        String(m?.errors ?? 0),
        bytes(m?.rssBytes),
        m?.cpuSeconds === undefined ? '-' : `${m.cpuSeconds.toFixed(1)}s`,
        p.lastError ? pc.red(truncate(err, 60)) : err,
      ];
    }),
  );
}

/** Causes followed at most by errorLines (a cycle or a deep chain stops there). */
const MAX_CAUSES = 5;

/**
 * An error as the CLI prints it: the whole message (a compiler's file:line:col, a plugin's
 * stderr lines), its code, then each cause whose message the ones before do not already
 * hold, indented.
 */
export function errorLines(err: unknown): string[] {
  const lines: string[] = [];
  const seen = new Set<unknown>();
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth <= MAX_CAUSES; depth++) {
    if (seen.has(e)) break;
    seen.add(e);
    const x = e as { message?: unknown; code?: unknown; cause?: unknown };
    const message = typeof x.message === 'string' ? x.message : String(e);
    const code = typeof x.code === 'string' ? ` (${x.code})` : '';
    if (depth === 0 || !lines.join('\n').includes(message.trim())) {
      const indent = '  '.repeat(depth);
      message.split('\n').forEach((l, i) => {
        lines.push(`${indent}${i === 0 && depth > 0 ? 'cause: ' : ''}${l}${i === 0 ? code : ''}`);
      });
    }
    e = x.cause;
  }
  return lines;
}

export function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

export function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** JSON for printing: bytes as `{ "$bytes": base64 }`, as the json codec writes them. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) => {
      if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
      if (v && typeof v === 'object' && v.type === 'Buffer' && Array.isArray(v.data)) {
        return { $bytes: Buffer.from(v.data).toString('base64') };
      }
      return v;
    },
    2,
  );
}
