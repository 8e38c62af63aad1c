#!/usr/bin/env node
// The interop tests build small Go programs against HashiCorp's yamux (and go-plugin) from
// Debian's packages. This makes sure they are there before the tests run, so a fresh
// Debian machine needs nothing installed by hand: as root it installs them with apt-get;
// otherwise it says what to install. PLUGWIRE_SKIP_GO=1 opts out explicitly: the Go tests
// are then reported as skipped (never as passed), except in CI (CI=true), which skips nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { GO_PLUGIN_PACKAGES, goMissing, SDK_PACKAGES } from './go.mjs';

const PACKAGES = [
  'golang-go',
  'golang-github-hashicorp-yamux-dev',
  'golang-github-hashicorp-go-plugin-dev',
  // What the Go sdk (go/) imports besides yamux: msgpack and hclog.
  'golang-github-vmihailenco-msgpack.v5-dev',
  'golang-github-hashicorp-go-hclog-dev',
  // What go-plugin 1.0.1 imports besides yamux and hclog, for bench/go (the go-plugin
  // contender of `pnpm bench` and test/bench.test.ts).
  'golang-google-grpc-dev',
  'golang-goprotobuf-dev',
  'golang-golang-x-net-dev',
];

function haveGo() {
  return goMissing([...GO_PLUGIN_PACKAGES, ...SDK_PACKAGES]) === undefined;
}

if (process.env.PLUGWIRE_SKIP_GO === '1' && process.env.CI !== 'true') {
  console.log('ensure-go: PLUGWIRE_SKIP_GO=1, the Go interop tests will be skipped');
  process.exit(0);
}
if (haveGo()) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version']).status === 0;
if (!isRoot || !hasApt) {
  console.error(
    `ensure-go: the interop tests need Go and HashiCorp's yamux from Debian:\n` +
      `  sudo apt-get update && sudo apt-get install -y ${PACKAGES.join(' ')}\n` +
      `or set PLUGWIRE_SKIP_GO=1 to run without them (those tests are then reported as skipped).`,
  );
  process.exit(1);
}
console.log(`ensure-go: installing ${PACKAGES.join(' ')} with apt-get (one time)`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...PACKAGES], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env,
});
if (!haveGo()) {
  console.error('ensure-go: apt-get finished but go or the Go package sources are still missing');
  process.exit(1);
}
