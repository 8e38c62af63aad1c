// Resource limits of @plugwire/sandbox (issue #15): a plugin that tries to take more memory,
// CPU or processes than its sandbox gives is stopped, the host stays up, the reason reaches
// the host, and the plugin's cgroup is gone afterwards. Needs root and cgroups (CI has both);
// skipped with the reason elsewhere.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { test } from 'node:test';
import { PluginClient, PluginExitedError, type RpcPeer } from '@plugwire/core';
import {
  type Controller,
  createSandbox,
  detectCgroups,
  type Sandbox,
  type SandboxOptions,
} from '@plugwire/sandbox';
import { checkLeaks, fixture, within } from './helpers.js';

const { socketDir } = checkLeaks();

function needs(...controllers: Controller[]): string | false {
  if (process.platform !== 'linux') return 'cgroups are Linux only';
  if (process.getuid?.() !== 0) return 'needs root to create cgroups';
  const host = detectCgroups(controllers);
  const missing = controllers.filter((c) => !host.parents[c]);
  return missing.length ? `no cgroup this process may create for ${missing.join(', ')}` : false;
}

let n = 0;
async function start(
  t: { after: (fn: () => unknown) => void },
  options: SandboxOptions,
): Promise<{ client: PluginClient; peer: RpcPeer; sandbox: Sandbox }> {
  const sandbox = createSandbox(
    { command: process.execPath, args: [fixture('sandbox-plugin')], name: `limits${n++}` },
    options,
  );
  const client = new PluginClient({
    ...sandbox.clientOptions(),
    plugins: { escape: {} },
    unixSocketDir: socketDir,
    killGrace: 200,
  });
  t.after(async () => {
    await client.kill();
    await sandbox.settled();
  });
  const peer = (await client.dispense('escape')) as RpcPeer;
  return { client, peer, sandbox };
}

/** The plugin's groups still on disk, by the name the sandbox gives them. */
function groupsOf(sandbox: Sandbox, c: Controller): string[] {
  const parent = detectCgroups([c]).parents[c]!;
  return readdirSync(parent).filter((d) =>
    d.startsWith(`plugwire-${sandbox.name}-${process.pid}-`),
  );
}

async function exitOf(client: PluginClient, call: Promise<unknown>): Promise<PluginExitedError> {
  const err = await within(
    call.then(
      () => assert.fail('the call succeeded'),
      (e: unknown) => e,
    ),
    30_000,
    'the plugin to be stopped',
  );
  assert.ok(err instanceof PluginExitedError, `expected PluginExitedError, got ${err}`);
  assert.equal(client.exited, true);
  return err;
}

test('a plugin runs inside its own cgroup from its first instruction', {
  skip: needs('memory'),
}, async (t) => {
  const { client, sandbox } = await start(t, { memory: 128 * 1024 * 1024 });
  const [group] = groupsOf(sandbox, 'memory');
  assert.ok(group, 'the sandbox made a memory cgroup');
  const line = readFileSync(`/proc/${client.pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /:memory:/.test(l));
  assert.equal(basename(line!.split(':')[2]!), group);
});

test('a plugin that allocates past its memory cap is killed with reason "memory limit" and its cgroup is removed', {
  skip: needs('memory'),
}, async (t) => {
  const { client, peer, sandbox } = await start(t, { memory: 96 * 1024 * 1024 });
  assert.equal(groupsOf(sandbox, 'memory').length, 1);
  const err = await exitOf(client, peer.request('alloc', [400]));
  assert.match(err.message, /memory limit \(96 MiB\) exceeded/);
  assert.match(client.exitStatus?.reason ?? '', /memory limit/);
  assert.equal(await sandbox.settled(), true);
  assert.deepEqual(groupsOf(sandbox, 'memory'), []);
});

test('a Node plugin that fills its V8 heap past the cap ends with reason "memory limit"', {
  skip: needs('memory'),
}, async (t) => {
  const { client, peer } = await start(t, { memory: 64 * 1024 * 1024 });
  const err = await exitOf(client, peer.request('allocHeap', [400]));
  assert.match(err.message, /memory limit/);
});

test('a fork bomb stays within the process limit and the plugin keeps serving', {
  skip: needs('pids'),
}, async (t) => {
  const { client, peer, sandbox } = await start(t, { pids: 16 });
  const r = (await peer.request('fork', [60])) as {
    started: number;
    failed: number;
    error: string;
  };
  assert.ok(r.started < 16, `started ${r.started} children under a limit of 16`);
  assert.ok(r.failed > 0);
  assert.equal(r.error, 'EAGAIN');
  assert.equal(await peer.request('ping', []), 'pong');
  await client.kill();
  assert.match(client.exitStatus?.reason ?? '', /process limit \(16\) refused \d+ fork/);
  assert.equal(await sandbox.settled(), true);
  assert.deepEqual(groupsOf(sandbox, 'pids'), []);
});

test('a plugin that spins gets no more CPU than its quota', { skip: needs('cpu') }, async (t) => {
  const { peer } = await start(t, { cpu: 0.2 });
  // 1 s of wall time at 0.2 CPU is about 200 ms of CPU; unlimited it is about 1000 ms.
  const cpuMs = (await peer.request('spin', [1000])) as number;
  assert.ok(cpuMs < 600, `the plugin used ${cpuMs} ms of CPU in 1 s at a quota of 0.2`);
});

test('a plugin that spins past its CPU time limit is ended with reason "CPU time limit"', {
  skip: process.platform !== 'linux' && 'RLIMIT_CPU via prlimit is Linux only',
}, async (t) => {
  const { client, peer } = await start(t, { cpuTime: 1 });
  const err = await exitOf(client, peer.request('spin', [20_000]));
  assert.equal(err.signal, 'SIGXCPU');
  assert.match(err.message, /CPU time limit \(1 s\) exceeded/);
});

test('the host keeps running and starts the next plugin after one hit its limit', {
  skip: needs('memory'),
}, async (t) => {
  const first = await start(t, { memory: 64 * 1024 * 1024 });
  await exitOf(first.client, first.peer.request('alloc', [300]));
  const second = await start(t, { memory: 64 * 1024 * 1024 });
  assert.equal(await second.peer.request('ping', []), 'pong');
});
