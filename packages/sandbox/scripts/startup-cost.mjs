#!/usr/bin/env node
// Start-up cost of each sandbox limit: time from `new PluginClient()` to the answer of the
// first call, for the test fixture plugin, with no sandbox and with each limit alone.
// Median of RUNS starts (first one discarded as warm-up). Run after `pnpm build`:
//   node packages/sandbox/scripts/startup-cost.mjs [runs]
import { fileURLToPath } from 'node:url';
import { PluginClient } from '@plugwire/core';
import { createSandbox, SandboxUnavailableError } from '@plugwire/sandbox';

const RUNS = Number(process.argv[2] ?? 7);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const plugin = `${root}test/fixtures/dist/sandbox-plugin.js`;
const target = { command: process.execPath, args: [plugin], name: 'bench' };

const cases = [
  ['none (plain PluginClient)', undefined],
  ['env: none', { env: 'none' }],
  ['memory 256 MiB', { memory: 256 * 2 ** 20 }],
  ['cpu 1', { cpu: 1 }],
  ['pids 64', { pids: 64 }],
  ['cpuTime 60 s', { cpuTime: 60 }],
  ['network: none', { network: 'none' }],
  ['user 65534', { user: { uid: 65534, gid: 65534 } }],
  ['files (permission model)', { files: { read: [root] } }],
  [
    'all of them',
    {
      env: 'none',
      memory: 256 * 2 ** 20,
      cpu: 1,
      pids: 64,
      cpuTime: 60,
      network: 'none',
      user: { uid: 65534, gid: 65534 },
      files: { read: [root] },
    },
  ],
];

async function once(options) {
  const sandbox = options ? createSandbox(target, options) : undefined;
  const t0 = performance.now();
  const client = new PluginClient({
    ...(sandbox ? sandbox.clientOptions() : { command: target.command, args: target.args }),
    plugins: { escape: {} },
  });
  const peer = await client.dispense('escape');
  await peer.request('ping', []);
  const ms = performance.now() - t0;
  await client.kill();
  await sandbox?.settled();
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `Node ${process.versions.node}, ${RUNS} starts each (median, ms from new PluginClient to the first answer)`,
);
let base;
for (const [name, options] of cases) {
  try {
    await once(options); // warm-up
    const times = [];
    for (let i = 0; i < RUNS; i++) times.push(await once(options));
    const m = median(times);
    base ??= m;
    const extra = m - base;
    console.log(
      `| ${name.padEnd(28)} | ${m.toFixed(0).padStart(5)} | ${name === cases[0][0] ? '' : `${extra >= 0 ? '+' : ''}${extra.toFixed(0)}`} |`,
    );
  } catch (err) {
    if (err instanceof SandboxUnavailableError)
      console.log(`| ${name.padEnd(28)} | unavailable: ${err.message} |`);
    else throw err;
  }
}
