#!/usr/bin/env node
// The dashboard test drives a real browser: Debian's chromium package through playwright-core
// (which downloads no browser of its own). This makes sure it is there before the tests run,
// as ensure-go.mjs does for Go: as root it installs it with apt-get; otherwise it says what to
// install. PLUGWIRE_SKIP_BROWSER=1 opts out explicitly: the browser test is then reported as
// skipped (never as passed). PLUGWIRE_CHROMIUM names another binary.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.PLUGWIRE_CHROMIUM ?? '/usr/bin/chromium';

if (process.env.PLUGWIRE_SKIP_BROWSER === '1') {
  console.log('ensure-chromium: PLUGWIRE_SKIP_BROWSER=1, the browser test will be skipped');
  process.exit(0);
}
if (existsSync(CHROMIUM)) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version']).status === 0;
if (!isRoot || !hasApt || process.env.PLUGWIRE_CHROMIUM) {
  console.error(
    `ensure-chromium: the dashboard test needs Chromium at ${CHROMIUM}:\n` +
      '  sudo apt-get update && sudo apt-get install -y chromium\n' +
      'or set PLUGWIRE_CHROMIUM to a Chromium binary, or PLUGWIRE_SKIP_BROWSER=1 to skip that test.',
  );
  process.exit(1);
}
console.log('ensure-chromium: installing chromium with apt-get (one time)');
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env,
});
if (!existsSync(CHROMIUM)) {
  console.error(`ensure-chromium: apt-get finished but ${CHROMIUM} is still missing`);
  process.exit(1);
}
