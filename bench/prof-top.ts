#!/usr/bin/env node
// Reads V8 .cpuprofile files (node --cpu-prof; bench/run.js --prof DIR writes them per
// contender and side) and prints where the time went: by layer (plugwire's packages, Node's
// internals, GC, other dependencies) and the top functions by self time.
//
//   node bench/dist/prof-top.js [--top N] FILE_OR_DIR...
//
// Several files are summed (e.g. every profile of one side). Idle time (and the profiler's
// own inspector calls) is left out of the shares: they are shares of the busy time. V8
// samples wall time: a syscall that blocks or is preempted (writeBuffer, writev) counts
// for as long as it takes, not for its CPU.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The layer a function belongs to, from its script's URL. */
export function layerOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)') return 'v8/native (program)';
  if (fn === '(idle)') return 'idle';
  // The inspector session that starts and stops an in-process profile (bench/profiler.ts).
  if (fn === 'dispatch' && url === '') return 'idle';
  const m = /\/packages\/(mux|rpc|core|sdk|manager)\//.exec(url);
  if (m) return `@plugwire/${m[1]}`;
  const dep = /\/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dep) return dep[1]!;
  if (url.includes('/bench/')) return 'bench (workload)';
  if (url.startsWith('node:') || url === '' || !url.includes('/')) return 'node internals';
  return 'other';
}

function files(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (statSync(a).isDirectory()) {
      for (const f of readdirSync(a)) if (f.endsWith('.cpuprofile')) out.push(join(a, f));
    } else out.push(a);
  }
  return out;
}

export function summarize(paths: string[], top = 25): string {
  const self = new Map<string, number>();
  const layers = new Map<string, number>();
  let busy = 0;
  for (const file of paths) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i]!);
      if (!n) continue;
      const dt = (p.timeDeltas[i] ?? 0) / 1000;
      const f = n.callFrame;
      const layer = layerOf(f.url, f.functionName);
      if (layer === 'idle') continue;
      busy += dt;
      layers.set(layer, (layers.get(layer) ?? 0) + dt);
      const where = f.url ? ` ${basename(f.url)}:${f.lineNumber + 1}` : '';
      const key = `${f.functionName || '(anonymous)'}${where} [${layer}]`;
      self.set(key, (self.get(key) ?? 0) + dt);
    }
  }
  const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1).padStart(5)}%`;
  const lines = [
    `${paths.length} profile(s), ${busy.toFixed(0)} ms busy`,
    '',
    'by layer (self time):',
  ];
  for (const [k, ms] of [...layers].sort((a, b) => b[1] - a[1])) {
    lines.push(`${ms.toFixed(0).padStart(8)} ms ${pct(ms)}  ${k}`);
  }
  lines.push('', 'top functions (self time):');
  for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`${ms.toFixed(0).padStart(8)} ms ${pct(ms)}  ${k}`);
  }
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('prof-top.js')) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--top');
  const top = i >= 0 ? Number(args.splice(i, 2)[1]) : 25;
  console.log(summarize(files(args), top));
}
