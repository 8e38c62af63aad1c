#!/usr/bin/env node
// The Python SDK's tests (python/, test/python-sdk*.test.ts) need Python 3.11+ with msgpack
// and pytest. This makes sure one is there before the tests run, so a fresh Debian machine
// needs nothing installed by hand: as root it installs Debian's packages with apt-get;
// otherwise it says what to install. PLUGWIRE_SKIP_PYTHON=1 opts out explicitly: those
// tests are then reported as skipped (never as passed).
import { execFileSync, spawnSync } from 'node:child_process';
import { findPython } from './python.mjs';

const PACKAGES = ['python3', 'python3-msgpack', 'python3-pytest'];

if (process.env.PLUGWIRE_SKIP_PYTHON === '1') {
  console.log('ensure-python: PLUGWIRE_SKIP_PYTHON=1, the Python SDK tests will be skipped');
  process.exit(0);
}
const found = findPython();
if (found.python) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version']).status === 0;
if (!isRoot || !hasApt) {
  console.error(
    `ensure-python: the Python SDK tests need Python 3.11+ with msgpack and pytest (${found.missing}):\n` +
      `  sudo apt-get update && sudo apt-get install -y ${PACKAGES.join(' ')}\n` +
      'or set PLUGWIRE_SKIP_PYTHON=1 to run without them (those tests are then reported as skipped).',
  );
  process.exit(1);
}
console.log(`ensure-python: installing ${PACKAGES.join(' ')} with apt-get (one time)`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...PACKAGES], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env,
});
const after = findPython();
if (!after.python) {
  console.error(`ensure-python: apt-get finished but no usable Python was found: ${after.missing}`);
  process.exit(1);
}
