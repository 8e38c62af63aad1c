// Error paths of a plugin's life: kill() while it starts, start() after kill(), a second
// host knocking, and children of the plugin when it has to be SIGKILLed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { type TestContext, test } from 'node:test';
import {
  HandshakeError,
  PluginClient,
  type PluginClientOptions,
  PluginExitedError,
  PlugwireError,
  type RpcPeer,
} from '@plugwire/core';
import { checkLeaks, childPids, eventually, fixture, within } from './helpers.js';

const { socketDir } = checkLeaks();

function client(
  t: TestContext,
  name: string,
  options: Partial<PluginClientOptions> = {},
): PluginClient {
  const c = new PluginClient({
    command: process.execPath,
    args: [fixture(name)],
    plugins: { calc: {}, spawner: {} },
    unixSocketDir: socketDir,
    ...options,
  });
  t.after(() => c.kill());
  return c;
}

/** Gone: no such process, or a zombie nobody reaped yet (it runs no code). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

test('kill() while the start waits for the handshake ends the start at once, not at its timeout', async (t) => {
  // never prints a handshake line, and ignores its stdin closing: it takes the SIGKILL
  const c = client(t, 'fake-plugin', { env: { FIXTURE_MODE: 'silent' }, killGrace: 200 });
  const starting = c.start().catch((e) => e);
  await eventually(
    () => assert.ok(c.pid, 'the plugin has no pid yet'),
    5_000,
    'the plugin process to be spawned',
  );
  const status = await c.kill();
  assert.deepEqual(status, { code: null, signal: 'SIGKILL' });
  // the default start timeout is 60 s: only the kill can end the start this soon
  const err = await within(starting, 10_000, 'start() to end after kill()');
  assert.ok(err instanceof HandshakeError, String(err));
  assert.match(err.message, /exited before the handshake \(killed by SIGKILL\)/);
  assert.equal(c.state, 'exited');
});

test('kill() right after start() stops the plugin wherever its start was, and start() rejects', async (t) => {
  const c = client(t, 'calc-plugin');
  const starting = c.start().catch((e) => e);
  const status = await c.kill();
  const err = await within(starting, 10_000, 'start() to end after kill()');
  assert.ok(err instanceof PlugwireError, String(err));
  assert.equal(c.state, 'exited');
  assert.equal(c.exitStatus, status);
});

test('start() after kill() rejects with the exit and never spawns the plugin again', async (t) => {
  const c = client(t, 'calc-plugin');
  await c.start();
  const pid = c.pid;
  const status = await c.kill();
  const children = childPids();
  const err = await c.start().catch((e) => e);
  assert.ok(err instanceof PluginExitedError, String(err));
  assert.equal(err.exitCode, status.code);
  await assert.rejects(c.dispense('calc'), PluginExitedError);
  assert.equal(c.pid, pid);
  assert.deepEqual(childPids(), children, 'no new process');
});

test('the plugin refuses a second host: its connection is closed unread, the first goes on', async (t) => {
  const c = client(t, 'calc-plugin');
  const calc = await c.dispense<RpcPeer>('calc');
  const intruder = connect({ path: c.handshake!.address });
  let received = 0;
  intruder.on('data', (d: Buffer) => {
    received += d.length;
  });
  intruder.on('error', () => {});
  // a yamux SYN for stream 1, as a host would open its control stream
  intruder.write(Buffer.from([0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
  await within(
    new Promise((resolve) => intruder.once('close', resolve)),
    5_000,
    'the plugin to close the second connection',
  );
  assert.equal(received, 0, 'the plugin sent the second host nothing');
  assert.equal(await calc.request('add', [2, 2]), 4, 'the first host still works');
});

test('a plugin that ignores quit is SIGKILLed with its process group: its own children go too', async (t) => {
  const c = client(t, 'spawner-plugin', { env: { FIXTURE_IGNORE_QUIT: '1' }, killGrace: 300 });
  const spawner = await c.dispense<RpcPeer>('spawner');
  const grandchild = await spawner.request<number>('spawn', []);
  assert.equal(gone(grandchild), false, 'the plugin started a child');
  const status = await c.kill();
  assert.equal(status.signal, 'SIGKILL');
  await eventually(
    () => assert.ok(gone(grandchild), `the plugin's child ${grandchild} still runs`),
    5_000,
    "the plugin's child to be killed",
  );
});
