// examples/python-plugin runs as a user would run it (its TypeScript host starting its
// Python plugin) and prints what it should. Without Python this file fails, saying what to
// install, unless PLUGWIRE_SKIP_PYTHON=1, which reports the test as skipped.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findPython } from '../scripts/python.mjs';
import { checkLeaks } from './helpers.js';

checkLeaks();
const found = findPython();
const skip =
  found.python === undefined && process.env.PLUGWIRE_SKIP_PYTHON === '1'
    ? `PLUGWIRE_SKIP_PYTHON=1 (${found.missing}): the Python example is skipped`
    : false;
const HOST = fileURLToPath(new URL('../examples/dist/python-plugin/host.js', import.meta.url));

test('python-plugin: a TS host calls a Python plugin, streams bytes both ways with a callback, gets a coded error', {
  skip,
}, async () => {
  if (found.python === undefined) {
    throw new Error(`no usable Python (${found.missing}): run node scripts/ensure-python.mjs`);
  }
  const { stdout } = await promisify(execFile)(process.execPath, [HOST], {
    env: { ...process.env, PYTHON: found.python },
    timeout: 60_000,
  });
  assert.match(stdout, /^HELLO FROM PYTHON!$/m);
  assert.match(
    stdout,
    /the plugin read 1260000 bytes \(\d+ progress callbacks\); top words: the=60000, fox=40000, quick=20000/,
  );
  const callbacks = Number(/\((\d+) progress callbacks\)/.exec(stdout)![1]);
  assert.ok(callbacks > 1, 'a byte stream arrives in chunks, each reported to the host');
  assert.match(stdout, /\[plugin info\] counted words \{"bytes":1260000,"distinct":10\}/);
  assert.match(stdout, /^1: plugwire\n2: plugwire\n3: plugwire$/m);
  assert.match(stdout, /failed as expected: no such dictionary \(ENODICT\)/);
  assert.match(stdout, /plugin stopped \(msgpack\)/);
});
