// Prints the top self-time functions of V8 .cpuprofile files (from `node --cpu-prof`),
// and the inclusive ("total") time of the mux's own functions.
//
//   node --import tsx packages/mux/bench/prof-top.ts [--top N] [--grep text] FILE...
//
// Several files are summed (e.g. all profiles of one process role). Self time is where the
// CPU was when sampled; total time includes the callees (counted once per sample even
// when a function recurses).

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
let top = 30;
let grep = '';
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--grep') grep = args[++i]!;
  else files.push(args[i]!);
}

const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;

for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: ProfileNode): string => {
    const f = n.callFrame;
    const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000; // ms
    let n = byId.get(p.samples[i]!);
    if (!n) continue;
    all += dt;
    const k = key(n);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (; n; n = byId.get(parent.get(n.id) ?? -1)) {
      const kk = key(n);
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + dt);
    }
  }
}

const pct = (ms: number): string => `${((100 * ms) / all).toFixed(1).padStart(5)}%`;
console.log(`${files.length} profile(s), ${all.toFixed(0)} ms sampled\n\nself time:`);
for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${ms.toFixed(1).padStart(9)} ms ${pct(ms)}  ${k}`);
}
const mine = [...total].filter(([k]) =>
  grep ? k.includes(grep) : /(session|stream|decode|frame)\.(ts|js)/.test(k),
);
console.log(`\ntotal time (${grep || 'mux sources'}):`);
for (const [k, ms] of mine.sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${ms.toFixed(1).padStart(9)} ms ${pct(ms)}  ${k}`);
}
