// Start on demand, stop when idle: the manifest's `activation` and `idleTimeout`, through the
// manager (which the control plane and routes call into). No call fails across a stop and
// the start that follows it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManifestError, PluginUnavailableError, type StateChange } from '@plugwire/manager';
import { cleanups } from './control-helpers.js';
import { echo } from './fixtures/manager/echo-api.js';
import { echoFolder, manager, reaches, tempDir } from './fixtures/manager/lib/helpers.js';
import { checkLeaks } from './helpers.js';

const later = cleanups();
const { socketDir } = checkLeaks();

function host(manifest: Record<string, unknown>, autoStart = true) {
  const dir = join(tempDir(), 'plugins');
  echoFolder(dir, 'echo', manifest);
  const m = manager(socketDir, { dirs: [dir], autoStart, killGrace: 500 });
  later(() => m.close());
  return m;
}

test('a lazy plugin is not started at load, even with autoStart; an eager one is', async () => {
  const lazy = host({ activation: 'lazy' });
  await lazy.loadAll();
  assert.equal(lazy.get('echo').state, 'stopped');
  const eager = host({ activation: 'eager' });
  await eager.loadAll();
  assert.equal(eager.get('echo').state, 'running');
});

test('the first call through a handle starts a lazy plugin', async () => {
  const m = host({ activation: 'lazy' });
  await m.loadAll();
  const e = await m.dispense('echo', echo);
  assert.equal(await e.add(1, 2), 3);
  assert.equal(m.get('echo').state, 'running');
});

test('idleTimeout stops a plugin without calls, and the next call through the same handle starts it again', async () => {
  const m = host({ idleTimeout: 200 });
  await m.loadAll();
  const e = await m.dispense('echo', echo);
  const first = await e.pid();
  await reaches(m, 'echo', 'stopped');
  const second = await e.pid();
  assert.notEqual(second, first);
  assert.equal(m.get('echo').state, 'running');
});

test('a call in flight keeps an idle plugin running past idleTimeout', async () => {
  const m = host({ idleTimeout: 150 });
  await m.loadAll();
  const e = await m.dispense('echo', echo);
  const pid = await e.pid();
  const states: string[] = [];
  m.on('state', (c) => states.push(c.to));
  await e.sleep(600);
  assert.deepEqual(states, []);
  assert.equal(await e.pid(), pid);
});

test('a call made while an idle stop is under way waits for the new process and succeeds', async () => {
  const m = host({ idleTimeout: 150 });
  await m.loadAll();
  const e = await m.dispense('echo', echo);
  const old = await e.pid();
  // Called from inside the state change to `stopping`: the stop has begun and cannot be undone.
  const during = new Promise<number>((resolve, reject) => {
    const on = (c: StateChange) => {
      if (c.to !== 'stopping') return;
      m.off('state', on);
      e.pid().then(resolve, reject);
    };
    m.on('state', on);
  });
  const pid = await during;
  assert.notEqual(pid, old);
  assert.equal(m.get('echo').state, 'running');
});

test('calls spread over several idle stops all succeed', async () => {
  const m = host({ activation: 'lazy', idleTimeout: 100 });
  await m.loadAll();
  const e = await m.dispense('echo', echo);
  const pids = new Set<number>();
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all([e.add(round, 1), e.pid(), e.add(1, round)]);
    assert.deepEqual([results[0], results[2]], [round + 1, round + 1]);
    pids.add(results[1] as number);
    await reaches(m, 'echo', 'stopped');
  }
  assert.equal(pids.size, 3);
});

test('a plugin someone stopped stays stopped: calls fail instead of waking it', async () => {
  const m = host({ activation: 'lazy', idleTimeout: 100 });
  await m.loadAll();
  const e = await m.dispense('echo', echo);
  await e.add(1, 1);
  await m.stop('echo');
  await assert.rejects(e.add(1, 1), PluginUnavailableError);
  await m.start('echo');
  assert.equal(await e.add(2, 2), 4);
});

test('a call after the manager closed does not start an idle-stopped plugin again', async () => {
  const m = host({ idleTimeout: 150 });
  await m.loadAll();
  const e = await m.dispense('echo', echo);
  await e.add(1, 1);
  await m.close();
  await assert.rejects(e.add(1, 1), PluginUnavailableError);
  assert.equal(m.get('echo').state, 'stopped');
});

test('activation and idleTimeout are checked in the manifest', async () => {
  for (const [fields, pattern] of [
    [{ activation: 'sometimes' }, /"activation" must be "eager" or "lazy"/],
    [{ idleTimeout: 5 }, /"idleTimeout" must be an integer of milliseconds from 100/],
    [{ idleTimeout: '1s' }, /"idleTimeout" must be an integer/],
  ] as const) {
    const m = host(fields);
    const { errors } = await m.loadAll();
    assert.ok(errors[0]?.error instanceof ManifestError, JSON.stringify(fields));
    assert.match(errors[0]!.error.message, pattern);
  }
});
