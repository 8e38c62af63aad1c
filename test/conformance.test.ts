// The conformance kit (`plugwire conformance -- <command…>`, docs/protocol.md §14) against
// the TypeScript, Go and Python reference plugins, which pass every item, and against plugins that
// break a rule, which fail that item and make the kit exit 1.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { goBuild, goMissing, SDK_PACKAGES } from '../scripts/go.mjs';
import { findPython } from '../scripts/python.mjs';
import { checkLeaks } from './helpers.js';

const CLI = fileURLToPath(new URL('../packages/control/bin/plugwire.js', import.meta.url));
const TS_PLUGIN = fileURLToPath(new URL('../examples/dist/conformance/plugin.js', import.meta.url));
const GO_SRC = fileURLToPath(new URL('../examples/go-conformance', import.meta.url));
const PY_PLUGIN = fileURLToPath(
  new URL('../examples/python-conformance/plugin.py', import.meta.url),
);
const PYTHON_DIR = fileURLToPath(new URL('../python', import.meta.url));
/** Items per run: start, 13 checks, the host-gone check. */
const ITEMS = 15;

const missing = goMissing(SDK_PACKAGES);
const skipGo =
  missing !== undefined && process.env.PLUGWIRE_SKIP_GO === '1'
    ? `PLUGWIRE_SKIP_GO=1 (${missing}): the Go reference plugin is not checked`
    : false;

const python = findPython();
const skipPython =
  python.python === undefined && process.env.PLUGWIRE_SKIP_PYTHON === '1'
    ? `PLUGWIRE_SKIP_PYTHON=1 (${python.missing}): the Python reference plugin is not checked`
    : false;

const { socketDir } = checkLeaks();
let workDir = '';
let goPlugin = '';

before(async () => {
  if (skipGo) return;
  if (missing !== undefined) {
    throw new Error(
      `${missing}. The Go reference plugin needs Go and Debian's Go packages: run ` +
        '`node scripts/ensure-go.mjs`, or set PLUGWIRE_SKIP_GO=1 to skip it.',
    );
  }
  workDir = mkdtempSync(join(tmpdir(), 'plugwire-conformance-'));
  goPlugin = join(workDir, 'go-conformance');
  await goBuild({ target: '.', cwd: GO_SRC, out: goPlugin, workDir });
});

after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Runs the kit; its lines, split into passes and failures. */
function kit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; passed: string[]; failed: string[]; out: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, 'conformance', ...args],
      {
        env: { ...process.env, NO_COLOR: '1', PLUGIN_UNIX_SOCKET_DIR: socketDir, ...env },
        timeout: 300_000,
        maxBuffer: 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (code === -1) return reject(new Error(`${err?.message}\n${stdout}\n${stderr}`));
        const lines = stdout.split('\n');
        resolve({
          code,
          passed: lines.filter((l) => l.startsWith('✓')),
          failed: lines.filter((l) => l.startsWith('✗')),
          out: stdout + stderr,
        });
      },
    );
  });
}

test('the TypeScript reference plugin passes every conformance item, with both codecs', {
  timeout: 300_000,
}, async () => {
  const r = await kit(['--', process.execPath, TS_PLUGIN]);
  assert.deepEqual(r.failed, [], r.out);
  assert.equal(r.passed.length, 2 * ITEMS, r.out);
  assert.match(r.out, /\[default codecs\] start, handshake and dispense \(codec msgpack\)/);
  assert.match(r.out, /\[json\] start, handshake and dispense \(codec json\)/);
  assert.equal(r.code, 0);
});

test('the Go reference plugin passes every conformance item, with both codecs', {
  skip: skipGo,
  timeout: 300_000,
}, async () => {
  const r = await kit(['--', goPlugin]);
  assert.deepEqual(r.failed, [], r.out);
  assert.equal(r.passed.length, 2 * ITEMS, r.out);
  assert.equal(r.code, 0);
});

test('the Python reference plugin passes every conformance item, with both codecs', {
  skip: skipPython,
  timeout: 300_000,
}, async () => {
  if (python.python === undefined) {
    throw new Error(
      `no Python 3.11+ with msgpack and pytest (${python.missing}): run ` +
        '`node scripts/ensure-python.mjs`, or set PLUGWIRE_SKIP_PYTHON=1 to skip it.',
    );
  }
  const r = await kit(['--', python.python, PY_PLUGIN], {
    PYTHONPATH: PYTHON_DIR,
    PYTHONDONTWRITEBYTECODE: '1',
  });
  assert.deepEqual(r.failed, [], r.out);
  assert.equal(r.passed.length, 2 * ITEMS, r.out);
  assert.match(r.out, /\[default codecs\] start, handshake and dispense \(codec msgpack\)/);
  assert.match(r.out, /\[json\] start, handshake and dispense \(codec json\)/);
  assert.equal(r.code, 0);
});

test('a plugin whose echo answers wrong fails the echo items and the kit exits 1', {
  timeout: 300_000,
}, async () => {
  const r = await kit(['--codec', 'json', '--', process.execPath, TS_PLUGIN], {
    CONFORMANCE_BREAK: 'echo',
  });
  assert.equal(r.code, 1);
  assert.deepEqual(
    r.failed.map((l) => l.replace(/: .*/, '')),
    ['✗ [json] echo', '✗ [json] echo'],
    r.out,
  );
  assert.match(r.failed[0]!, /echo: every value kind: echo\(null\): expected null, got/);
  assert.equal(r.passed.length, ITEMS - 2, r.out);
});

test('a plugin that outlives its host fails the host-gone item and is killed by the kit', {
  timeout: 300_000,
}, async () => {
  // A reattachable plugin ignores stdin EOF on purpose: the kit must say so, and clean up.
  const r = await kit(['--codec', 'json', '--', process.execPath, TS_PLUGIN], {
    PLUGWIRE_REATTACHABLE: '1',
  });
  assert.equal(r.code, 1);
  assert.equal(r.failed.length, 1, r.out);
  assert.match(r.failed[0]!, /exit when the host is gone \(stdin EOF\): no answer within 5000 ms/);
});
