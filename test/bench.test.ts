// `pnpm bench` in quick mode (tiny counts): proves the benchmark still runs end to end —
// every contender through every field and every scale case, a well-formed table, nothing
// left behind. Not a timed test: no figure is compared with anything. The go-plugin
// contender is a subtest of its own, skipped (reported as such) under PLUGWIRE_SKIP_GO=1.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GO_PLUGIN_PACKAGES, goSkip, requireGo } from '../scripts/go.mjs';
import { checkLeaks } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const RUN = join(root, 'bench', 'dist', 'run.js');
const FIELDS = [
  'startup_ms',
  'rss_mib',
  'serial_cps',
  'serial_p50_us',
  'serial_p99_us',
  'conc_cps',
  'payload_mbs',
  'bulk_mbs',
];
const NODE_CONTENDERS = {
  'plugwire-msgpack': 'plugwire msgpack',
  'plugwire-json': 'plugwire json',
  raw: 'raw floor (binary RPC, unix socket)',
  jsonrpc2: 'json-rpc-2.0 (ndjson, unix socket)',
};
const GO_CONTENDER = { go: 'hashicorp/go-plugin net/rpc (Go↔Go)' };

/** Processes whose command line mentions `text` (the bench's drivers and plugins do). */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(text)) found.push(`${pid}: ${cmd}`);
    } catch {
      // exited while we looked
    }
  }
  return found;
}

const { socketDir } = checkLeaks();
const skipGo = goSkip();

test('bench --quick: every contender, every field, the targets, the scale cases', {
  timeout: 300_000,
}, async (t) => {
  assert.ok(existsSync(RUN), `${RUN} is missing: build first (tsc -b)`);
  if (!skipGo) requireGo(GO_PLUGIN_PACKAGES);
  const withGo = !skipGo;
  const contenders: Record<string, string> = withGo
    ? { ...NODE_CONTENDERS, ...GO_CONTENDER }
    : NODE_CONTENDERS;
  const out = mkdtempSync(join(tmpdir(), 'pw-bench-test-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const md = join(out, 'benchmarks.md');
  const json = join(out, 'bench.json');
  const args = ['--quick', '--tmpdir', socketDir, '--out', md, '--json', json];
  if (!withGo) args.push('--no-go');
  const { stdout } = await promisify(execFile)(process.execPath, [RUN, ...args], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  assert.deepEqual(processesMentioning(socketDir), [], 'bench processes left running');
  if (withGo) assert.doesNotMatch(stdout, /note: go-plugin skipped/);
  else assert.match(stdout, /note: go-plugin skipped: --no-go/);

  // The samples: one finite, positive value per round for every contender and field.
  const data = JSON.parse(readFileSync(json, 'utf8')) as {
    samples: Record<string, Record<string, number[]>>;
    scale: {
      streams?: { n: number; runs: number[] };
      slow?: Record<string, unknown>;
      many: Array<{ id: string; r: Record<string, number> }>;
    };
  };
  const perRound = (key: string, field: string) => {
    const values = data.samples[key]?.[field];
    assert.equal(values?.length, 2, `${key} ${field}: one value per round`);
    for (const v of values) assert.ok(Number.isFinite(v) && v > 0, `${key} ${field}: ${v}`);
  };
  for (const id of Object.keys(NODE_CONTENDERS)) for (const f of FIELDS) perRound(id, f);
  // the raw broker stream, which the broker targets compare
  perRound('bulk:plugwire-msgpack:broker', 'mbs');
  assert.ok(data.scale.streams?.runs.every((ms) => ms > 0));
  assert.ok(Number(data.scale.slow?.read_mib) > 0, 'the slow reader read something');
  assert.deepEqual(
    data.scale.many.map((m) => m.id),
    ['raw', 'plugwire-msgpack', ...(withGo ? ['go'] : [])],
  );
  for (const m of data.scale.many) assert.ok(m.r.total_ms > 0 && m.r.plugins_rss_mib > 0);

  // The document: the main table, one well-formed row per contender.
  const doc = readFileSync(md, 'utf8');
  assert.match(doc, /<!-- bench:begin[\s\S]*<!-- bench:end -->/);
  assert.match(doc, /Node v\d+\.\d+\.\d+.*\d+ cores, .*load average/);
  const lines = doc.split('\n');
  const header = `| contender | ${FIELDS.join(' | ')} |`;
  const at = lines.indexOf(header);
  assert.ok(at >= 0, 'the main table header');
  const cell = /^\d+(\.\d)? \(\d+(\.\d)?–\d+(\.\d)?\)$/;
  const rows = lines.slice(at + 2, at + 2 + Object.keys(contenders).length);
  assert.deepEqual(
    rows.map((r) => r.split(' | ')[0]!.slice(2)),
    Object.values(contenders),
  );
  for (const row of rows) {
    const cells = row.slice(2, -2).split(' | ').slice(1);
    assert.equal(cells.length, FIELDS.length, row);
    for (const c of cells) assert.match(c, cell, row);
  }
  // Every target the Node contenders can meet has a verdict for plugwire msgpack.
  const verdicts = (re: RegExp) => lines.filter((l) => re.test(l) && /^\| .* \| [✓✗] \|/.test(l));
  assert.equal(verdicts(/^\| [^|]*floor/).length, 6, verdicts(/floor/).join('\n'));
  assert.equal(verdicts(/^\| raw broker stream/).length, withGo ? 2 : 1);
  assert.match(doc, /\| @plugwire\/mux alone: one yamux stream on a unix socket \| \d/);
  assert.match(doc, /\| plugwire: raw MuxBroker stream \| \d/);
  assert.match(doc, /concurrent streams on one session/);
  assert.match(doc, /Slow reader/);

  // The go-plugin contender: a subtest of its own, reported as skipped without Go.
  await t.test(
    'the go-plugin contender: every field, its targets, its bulk path',
    {
      skip: skipGo,
    },
    () => {
      for (const f of FIELDS) perRound('go', f);
      perRound('bulk:go:sdk', 'mbs');
      assert.equal(verdicts(/^\| [^|]*go-plugin/).length, 3);
    },
  );
});
