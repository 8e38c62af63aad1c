// States, lifecycle hooks and the supervisor, end to end with the echo fixture plugin.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PluginExitedError } from '@plugwire/core';
import { PluginConfigError, PluginUnavailableError, type StateChange } from '@plugwire/manager';
import { echo } from './fixtures/manager/echo-api.js';
import {
  echoFolder,
  manager,
  reaches,
  statesOf,
  tempDir,
  withManager,
} from './fixtures/manager/lib/helpers.js';
import { checkLeaks, isAlive } from './helpers.js';

const { socketDir } = checkLeaks();

test('start and stop move the plugin through starting, running, stopping and stopped', async () => {
  const m = manager(socketDir);
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    assert.equal(m.get('echo').state, 'stopped');
    const states = statesOf(m, 'echo');
    const running = await m.start('echo');
    assert.equal(running.state, 'running');
    assert.ok(running.pid && isAlive(running.pid));
    const stopped = await m.stop('echo');
    assert.deepEqual(states, ['starting', 'running', 'stopping', 'stopped']);
    assert.equal(stopped.pid, undefined);
    assert.equal(stopped.exitCode, 0);
    assert.equal(isAlive(running.pid), false);
  } finally {
    await m.close();
  }
});

test('the plugin gets its config in init, and its start hook runs after init', async () => {
  const m = manager(socketDir, { plugins: { echo: { config: { greeting: 'Hej' } } } });
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    assert.deepEqual(await e.config(), { greeting: 'Hej' });
    assert.deepEqual(await e.hooks(), ['init', 'start']);
    assert.equal(await e.hello('Ada'), 'Hej, Ada!');
  } finally {
    await m.close();
  }
});

test("stop runs the plugin's stop hook before the process exits", async () => {
  const marker = join(tempDir(), 'stopped');
  const m = manager(socketDir, { plugins: { echo: { config: { stoppedMarker: marker } } } });
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo', { version: '1.2.3' }) });
    await m.start('echo');
    await m.stop('echo');
    assert.equal(readFileSync(marker, 'utf8'), 'stopped 1.2.3\n');
  } finally {
    await m.close();
  }
});

test('a config that does not fit the manifest configSchema keeps the plugin from loading', async () => {
  const m = manager(socketDir, { plugins: { echo: { config: { greeting: 42 } } } });
  try {
    const dir = echoFolder(tempDir(), 'echo', {
      configSchema: { type: 'object', properties: { greeting: { type: 'string' } } },
    });
    await assert.rejects(m.load({ path: dir }), (err: PluginConfigError) => {
      assert.ok(err instanceof PluginConfigError);
      assert.match(err.message, /"echo" does not fit its configSchema: \/greeting must be string/);
      return true;
    });
  } finally {
    await m.close();
  }
});

test('a crash moves running → crashed → starting → running, with the exit code and one restart', async () => {
  const m = manager(socketDir, { supervisor: { initialDelay: 50 } });
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    const before = m.get('echo').pid;
    const states = statesOf(m, 'echo');
    const crashed = reaches(m, 'echo', 'crashed');
    const back = reaches(m, 'echo', 'running');
    await assert.rejects(e.crash(7), PluginExitedError);
    const c = await crashed;
    assert.equal(c.info.exitCode, 7);
    assert.match(c.info.lastError?.message ?? '', /exited \(with code 7\)/);
    const r = await back;
    assert.deepEqual(states, ['crashed', 'starting', 'running']);
    assert.equal(r.info.restarts, 1);
    assert.notEqual(r.info.pid, before);
    assert.equal(await e.add(1, 2), 3);
  } finally {
    await m.close();
  }
});

test('restarts back off exponentially, and a plugin that keeps crashing ends failed', async () => {
  const marker = join(tempDir(), 'crash-on-start');
  const m = manager(socketDir, {
    supervisor: { initialDelay: 100, factor: 2, maxRestarts: 3, window: 60_000 },
    plugins: { echo: { config: { crashOnStartIf: marker } } },
  });
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    const events: Array<{ to: string; at: number }> = [];
    m.on('state', (c: StateChange) => events.push({ to: c.to, at: performance.now() }));
    const failed = reaches(m, 'echo', 'failed');
    writeFileSync(marker, ''); // from now on every start exits with code 3 in init
    await assert.rejects(e.crash(1), PluginExitedError);
    const f = await failed;
    assert.deepEqual(
      events.map((x) => x.to),
      ['crashed', 'starting', 'crashed', 'starting', 'crashed', 'starting', 'crashed', 'failed'],
    );
    const gaps = [0, 2, 4].map((i) => events[i + 1]!.at - events[i]!.at);
    [100, 200, 400].forEach((want, i) => {
      assert.ok(
        gaps[i]! >= want - 1,
        `restart ${i + 1} came ${gaps[i]!.toFixed(0)} ms after the crash, want ≥ ${want}`,
      );
    });
    assert.equal(f.info.restarts, 3);
    assert.equal(f.info.exitCode, 3);
    await assert.rejects(e.add(1, 2), (err: PluginUnavailableError) => err.state === 'failed');
  } finally {
    await m.close();
  }
});

test('start() of a failed plugin forgets its crashes and runs it again', async () => {
  const marker = join(tempDir(), 'crash-on-start');
  writeFileSync(marker, '');
  const m = manager(socketDir, { plugins: { echo: { config: { crashOnStartIf: marker } } } });
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    await assert.rejects(m.start('echo'), /exited before the handshake|exited/);
    assert.equal(m.get('echo').state, 'failed');
    rmSync(marker);
    assert.equal((await m.start('echo')).state, 'running');
  } finally {
    await m.close();
  }
});

test('while a crashed plugin waits to restart, calls fail fast with PluginUnavailableError', async () => {
  // A restart far away: a call that waited for it would not settle within the test.
  await withManager(socketDir, { supervisor: { initialDelay: 600_000 } }, async (m) => {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    const crashed = reaches(m, 'echo', 'crashed');
    await assert.rejects(e.crash(1), PluginExitedError);
    await crashed;
    const states = statesOf(m, 'echo');
    await assert.rejects(e.add(1, 2), (err: PluginUnavailableError) => {
      assert.ok(err instanceof PluginUnavailableError);
      assert.equal(err.code, 'PLUGWIRE_PLUGIN_UNAVAILABLE');
      assert.equal(err.state, 'crashed');
      assert.ok(err.retryAt && err.retryAt > Date.now());
      return true;
    });
    assert.deepEqual(states, [], 'failed without waiting for the restart');
    assert.equal(m.get('echo').state, 'crashed');
  });
});

test("with whileRestarting: 'wait', a call that outlasts waitTimeout fails with PluginUnavailableError", async () => {
  await withManager(socketDir, { supervisor: { initialDelay: 600_000 } }, async (m) => {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo, { whileRestarting: 'wait', waitTimeout: 50 });
    const crashed = reaches(m, 'echo', 'crashed');
    await assert.rejects(e.crash(1), PluginExitedError);
    await crashed;
    await assert.rejects(e.add(1, 2), (err: PluginUnavailableError) => {
      assert.ok(err instanceof PluginUnavailableError);
      assert.equal(err.state, 'crashed');
      assert.match(err.message, /still not running after waiting 50 ms/);
      return true;
    });
  });
});

test('the exit code of a crash is cleared once the plugin runs again', async () => {
  await withManager(socketDir, { supervisor: { initialDelay: 10 } }, async (m) => {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    const crashed = reaches(m, 'echo', 'crashed');
    const back = reaches(m, 'echo', 'running');
    await assert.rejects(e.crash(7), PluginExitedError);
    assert.equal((await crashed).info.exitCode, 7);
    const r = await back;
    assert.equal(r.info.exitCode, undefined);
    assert.equal(r.info.exitSignal, undefined);
    assert.equal(m.get('echo').exitCode, undefined);
  });
});

test('calls, starts and loads on a closed manager fail with PluginUnavailableError', async () => {
  const m = manager(socketDir);
  const dir = echoFolder(tempDir(), 'echo');
  await m.load({ path: dir });
  const e = await m.dispense('echo', echo);
  assert.equal(await e.add(1, 1), 2);
  await m.close();
  const closed = (err: PluginUnavailableError) => {
    assert.ok(err instanceof PluginUnavailableError);
    assert.match(err.message, /the manager is closed/);
    return true;
  };
  await assert.rejects(e.add(1, 2), closed);
  await assert.rejects(m.start('echo'), closed);
  await assert.rejects(m.call('echo', 'add', [1, 2]), closed);
  await assert.rejects(m.dispense('echo', echo), closed);
  await assert.rejects(m.load({ path: dir }), closed);
  await assert.rejects(m.loadAll(), closed);
  assert.equal(m.get('echo').state, 'stopped');
});

test("with whileRestarting: 'wait', a call made during the restart is served by the new process", async () => {
  const m = manager(socketDir, { supervisor: { initialDelay: 100 } });
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo, { whileRestarting: 'wait' });
    const first = await e.pid();
    const crashed = reaches(m, 'echo', 'crashed');
    await assert.rejects(e.crash(1), PluginExitedError);
    await crashed;
    const second = await e.pid();
    assert.notEqual(second, first);
    assert.equal(m.get('echo').pid, second);
  } finally {
    await m.close();
  }
});

test('restart() replaces the process and counts a restart', async () => {
  const m = manager(socketDir);
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const before = (await m.start('echo')).pid!;
    const after = await m.restart('echo');
    assert.equal(after.state, 'running');
    assert.notEqual(after.pid, before);
    assert.equal(after.restarts, 1);
    assert.equal(isAlive(before), false);
  } finally {
    await m.close();
  }
});

test('unload stops the plugin and forgets it', async () => {
  const m = manager(socketDir);
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const pid = (await m.start('echo')).pid!;
    const unloaded = new Promise((r) => m.once('unloaded', r));
    await m.unload('echo');
    await unloaded;
    assert.deepEqual(m.list(), []);
    assert.equal(isAlive(pid), false);
    assert.throws(() => m.get('echo'), /no plugin "echo" is loaded/);
  } finally {
    await m.close();
  }
});
