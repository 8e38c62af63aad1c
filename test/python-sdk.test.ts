// The Python SDK's own tests (python/tests: its yamux against HashiCorp's Go yamux in both
// roles and against hostile peers, its JSON-RPC peer), run with pytest from the suite, so
// `pnpm test` and CI cover them. The interpreter is the one scripts/python.mjs finds (3.11+
// with msgpack and pytest; scripts/ensure-python.mjs installs Debian's). Without one this
// file fails, saying what to install, unless PLUGWIRE_SKIP_PYTHON=1, which reports the test
// as skipped (never as passed).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findPython } from '../scripts/python.mjs';
import { checkLeaks } from './helpers.js';

const PYTHON_DIR = fileURLToPath(new URL('../python', import.meta.url));
const found = findPython();
const skip =
  found.python === undefined && process.env.PLUGWIRE_SKIP_PYTHON === '1'
    ? `PLUGWIRE_SKIP_PYTHON=1 (${found.missing}): the Python SDK tests are skipped`
    : false;

checkLeaks();

test('the Python SDK passes its pytest suite (yamux vs Go in both roles, hostile peers, rpc, the Python host driving Python and TypeScript plugins)', {
  skip,
  timeout: 600_000,
}, async () => {
  if (found.python === undefined) {
    throw new Error(
      `no Python 3.11+ with msgpack and pytest (${found.missing}): run ` +
        '`node scripts/ensure-python.mjs` (or `apt-get install python3-msgpack python3-pytest`), ' +
        'or set PLUGWIRE_SKIP_PYTHON=1 to skip this test.',
    );
  }
  const child = spawn(found.python, ['-m', 'pytest', '-q', '-rfEs'], {
    cwd: PYTHON_DIR,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `pytest failed in ${join('python')}:\n${out}`);
  const summary = /(\d+) passed/.exec(out);
  assert.ok(summary && Number(summary[1]) > 0, `pytest ran no test:\n${out}`);
  // A Go-less machine skips the interop tests only when told to (PLUGWIRE_SKIP_GO=1).
  if (process.env.PLUGWIRE_SKIP_GO !== '1') assert.doesNotMatch(out, /skipped/, out);
});
