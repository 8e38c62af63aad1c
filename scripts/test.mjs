#!/usr/bin/env node
// Runs every test with node's own runner. Node 20 does not expand globs given to --test,
// so the files are listed here. Extra arguments narrow the run to files whose path
// contains one of them: `pnpm test mux` runs the mux tests only.
//
// Every test has a deadline, so a regression that hangs (a promise nobody settles, a socket
// that never closes) fails that test by name instead of stalling CI. The slowest tests
// (Go builds, `npm pack`, the bench run) set their own, larger `timeout`; 60 s is four
// times the slowest of the others (~15 s) on the 2-core CI machine under load.
// PLUGWIRE_TEST_TIMEOUT (ms) overrides it. On Node 24, --test-timeout is that
// deadline. On Node 20 and 22 it applies to each file as a whole instead (a file's tests together
// take longer than 60 s): there it is a per-file deadline of 10 minutes
// (PLUGWIRE_FILE_TIMEOUT), and the leak check of test/support/leaks.ts, which every test
// file installs, names the test that is still running at its deadline.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const files = [];
for (const pkg of readdirSync(join(root, 'packages'))) {
  const dir = join(root, 'packages', pkg, 'test');
  try {
    walk(dir, files);
  } catch {}
}
walk(join(root, 'test'), files);
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const timeout = Number(process.env.PLUGWIRE_TEST_TIMEOUT) || 60_000;
const perTest = Number(process.versions.node.split('.')[0]) >= 24;

const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    `--test-timeout=${perTest ? timeout : Number(process.env.PLUGWIRE_FILE_TIMEOUT) || 600_000}`,
    ...flags,
    ...selected,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, PLUGWIRE_TEST_TIMEOUT: String(timeout) } },
);
process.exit(r.status ?? 1);
