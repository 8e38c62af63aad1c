// Hot upgrade: the new version starts next to the old, new calls go to it, calls in flight
// finish on the old one, then the old one stops; no call fails because of the switch.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type PluginManager, UpgradeError } from '@plugwire/manager';
import { echo } from './fixtures/manager/echo-api.js';
import {
  echoFolder,
  fifo,
  manager,
  nextEvent,
  reaches,
  statesOf,
  tempDir,
  withManager,
} from './fixtures/manager/lib/helpers.js';
import { checkLeaks, eventually, isAlive } from './helpers.js';

const { socketDir } = checkLeaks();

test('a hot upgrade under continuous calls fails no call, and the new version serves after it', async () => {
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const v2 = echoFolder(tempDir(), 'echo', { version: '2.0.0' });
  const m = manager(socketDir);
  try {
    await m.load({ path: v1 });
    const e = await m.dispense('echo', echo);
    const oldPid = await e.pid();
    const served: string[] = [];
    const failures: unknown[] = [];
    let upgraded = false;
    let afterUpgrade = 0;
    let flowing!: () => void;
    const fifty = new Promise<void>((r) => {
      flowing = r;
    });
    // 8 callers, each with one call in flight at a time, until 100 calls after the switch.
    const caller = async () => {
      while (afterUpgrade < 100) {
        try {
          const r = await e.sleep(2);
          if (served.push(r.version) === 50) flowing();
          if (upgraded) afterUpgrade++;
        } catch (err) {
          failures.push(err);
          if (upgraded) afterUpgrade++;
        }
      }
    };
    const callers = Array.from({ length: 8 }, caller);
    const states = statesOf(m, 'echo');
    await fifty; // calls are flowing
    const event = new Promise<{ from: string; to: string }>((r) => m.once('upgraded', r));
    await m.upgrade('echo', { path: v2 });
    upgraded = true;
    await Promise.all(callers);
    assert.deepEqual(failures, []);
    assert.ok(served.includes('1.0.0') && served.includes('2.0.0'));
    assert.deepEqual(new Set(served.slice(-50)), new Set(['2.0.0']));
    assert.deepEqual(await event.then((x) => [x.from, x.to]), ['1.0.0', '2.0.0']);
    assert.deepEqual(states, ['upgrading', 'running']);
    assert.equal(m.get('echo').version, '2.0.0');
    assert.equal(isAlive(oldPid), false);
  } finally {
    await m.close();
  }
});

test('a call in flight on the old version finishes there; the old process stops after it', async () => {
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const v2 = echoFolder(tempDir(), 'echo', { version: '2.0.0' });
  await withManager(socketDir, {}, async (m) => {
    await m.load({ path: v1 });
    const e = await m.dispense('echo', echo);
    const oldPid = await e.pid();
    const gate = fifo();
    // Held on v1 until the gate opens, however long v2 takes to start.
    const held = e.gate(gate.path);
    let upgraded = false;
    const upgrade = m.upgrade('echo', { path: v2 }).then(() => {
      upgraded = true;
    });
    // New calls reach v2 while the held call is still in flight on v1.
    while ((await e.version()) !== '2.0.0');
    assert.equal(upgraded, false, 'upgrade() waits for the call in flight');
    assert.equal(isAlive(oldPid), true, 'the old process serves its call');
    await gate.open();
    assert.deepEqual(await held, { version: '1.0.0' });
    await upgrade;
    assert.equal(isAlive(oldPid), false);
    assert.equal(await e.version(), '2.0.0');
  });
});

test('an upgrade whose new version cannot start leaves the old one serving', async () => {
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const broken = echoFolder(tempDir(), 'echo', { version: '2.0.0' });
  writeFileSync(join(broken, 'index.mjs'), "console.error('broken build'); process.exit(1);\n");
  const m = manager(socketDir);
  try {
    await m.load({ path: v1 });
    const e = await m.dispense('echo', echo);
    await assert.rejects(m.upgrade('echo', { path: broken }), (err: UpgradeError) => {
      assert.ok(err instanceof UpgradeError);
      assert.match(err.message, /upgrade of plugin "echo" failed, the running version stays/);
      assert.match(err.message, /broken build/);
      return true;
    });
    assert.deepEqual([m.get('echo').state, m.get('echo').version], ['running', '1.0.0']);
    assert.equal(await e.version(), '1.0.0');
  } finally {
    await m.close();
  }
});

test('an upgrade to a version outside the configured range is refused before anything starts', async () => {
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const v2 = echoFolder(tempDir(), 'echo', { version: '2.0.0' });
  const m = manager(socketDir, { plugins: { echo: { version: '^1' } } });
  try {
    await m.load({ path: v1 });
    const pid = (await m.start('echo')).pid;
    await assert.rejects(
      m.upgrade('echo', { path: v2 }),
      /must satisfy \^1, but the version found is 2\.0\.0/,
    );
    assert.equal(m.get('echo').pid, pid);
  } finally {
    await m.close();
  }
});

test('a call still running after drainTimeout is cut off with a warning, and the upgrade completes', async () => {
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const v2 = echoFolder(tempDir(), 'echo', { version: '2.0.0' });
  await withManager(socketDir, { drainTimeout: 100 }, async (m) => {
    await m.load({ path: v1 });
    const e = await m.dispense('echo', echo);
    const oldPid = await e.pid();
    const gate = fifo(); // never opened: the call would wait forever
    const held = e.gate(gate.path).then(
      () => undefined,
      (err: Error) => err,
    );
    const warning = nextEvent<Error>(
      m,
      'warning',
      (w) => /still running/.test(w.message),
      'drain warning',
    );
    await m.upgrade('echo', { path: v2 });
    assert.match((await warning).message, /plugin "echo": 1 call\(s\) still running after 100 ms/);
    assert.ok((await held) instanceof Error, 'the cut-off call failed');
    assert.equal(isAlive(oldPid), false);
    assert.equal(await e.version(), '2.0.0');
  });
});

test('an upgrade completes when the old process dies while the new one starts', async () => {
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const v2 = echoFolder(tempDir(), 'echo', { version: '2.0.0' });
  const gate = fifo();
  // v2's start (its init hook) waits for the gate: the old process is killed in between.
  const config = { holdStart: { version: '2.0.0', gate: gate.path } };
  await withManager(socketDir, { plugins: { echo: { config } } }, async (m) => {
    await m.load({ path: v1 });
    const e = await m.dispense('echo', echo, { whileRestarting: 'wait' });
    const oldPid = await e.pid();
    const upgrading = reaches(m, 'echo', 'upgrading');
    const upgrade = m.upgrade('echo', { path: v2 });
    const upgraded = upgrade.then(
      () => undefined,
      (err: Error) => err,
    );
    await upgrading;
    process.kill(oldPid, 'SIGKILL');
    await eventually(() => assert.equal(m.get('echo').pid, undefined));
    // A call made now waits for the new version rather than failing.
    const call = e.version();
    await gate.open();
    assert.equal(await upgraded, undefined);
    assert.equal(await call, '2.0.0');
    assert.deepEqual([m.get('echo').state, m.get('echo').version], ['running', '2.0.0']);
    assert.equal(m.get('echo').restarts, 0, 'no crash restart: the upgrade replaced it');
  });
});

test('upgrading a stopped plugin takes the new version for its next start and starts nothing', async () => {
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const v2 = echoFolder(tempDir(), 'echo', { version: '2.0.0' });
  await withManager(socketDir, {}, async (m) => {
    await m.load({ path: v1 });
    const states = statesOf(m, 'echo');
    const info = await m.upgrade('echo', { path: v2 });
    assert.deepEqual([info.state, info.version, info.pid], ['stopped', '2.0.0', undefined]);
    assert.deepEqual(states, []);
    const e = await m.dispense('echo', echo);
    assert.equal(await e.version(), '2.0.0');
  });
});

/**
 * Runs `fn` with a manager whose echo 1.0.0 failed to start (its init exits while `marker`
 * exists), and an echo 2.0.0 folder to upgrade to.
 */
async function withFailedEcho(
  fn: (m: PluginManager, v2: string, marker: string) => Promise<void>,
): Promise<void> {
  const marker = join(tempDir(), 'crash-on-start');
  writeFileSync(marker, '');
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const v2 = echoFolder(tempDir(), 'echo', { version: '2.0.0' });
  const options = { plugins: { echo: { config: { crashOnStartIf: marker } } } };
  await withManager(socketDir, options, async (m) => {
    await m.load({ path: v1 });
    await assert.rejects(m.start('echo'));
    assert.equal(m.get('echo').state, 'failed');
    await fn(m, v2, marker);
  });
}

test('an upgrade of a failed plugin starts the new version', async () => {
  await withFailedEcho(async (m, v2, marker) => {
    rmSync(marker); // the fix
    const info = await m.upgrade('echo', { path: v2 });
    assert.deepEqual([info.state, info.version], ['running', '2.0.0']);
    const e = await m.dispense('echo', echo);
    assert.equal(await e.version(), '2.0.0');
  });
});

test('an upgrade of a failed plugin whose new version fails too says nothing runs', async () => {
  await withFailedEcho(async (m, v2) => {
    await assert.rejects(m.upgrade('echo', { path: v2 }), (err: UpgradeError) => {
      assert.ok(err instanceof UpgradeError);
      assert.match(err.message, /the new version did not start either/);
      return true;
    });
    assert.equal(m.get('echo').state, 'failed');
  });
});

test('restart() of a failed plugin runs it again', async () => {
  await withFailedEcho(async (m, _v2, marker) => {
    rmSync(marker);
    const info = await m.restart('echo');
    assert.equal(info.state, 'running');
    assert.equal(await (await m.dispense('echo', echo)).version(), '1.0.0');
  });
});

test("an upgrade to a source that holds another plugin's name is refused; the old version serves on", async () => {
  const v1 = echoFolder(tempDir(), 'echo', { version: '1.0.0' });
  const other = echoFolder(tempDir(), 'other', { name: 'other', version: '2.0.0' });
  await withManager(socketDir, {}, async (m) => {
    await m.load({ path: v1 });
    const e = await m.dispense('echo', echo);
    const pid = await e.pid();
    await assert.rejects(m.upgrade('echo', { path: other }), (err: UpgradeError) => {
      assert.ok(err instanceof UpgradeError);
      assert.match(err.message, /holds plugin "other", not "echo"/);
      return true;
    });
    assert.equal(await e.pid(), pid);
    assert.deepEqual(
      m.list().map((p) => p.name),
      ['echo'],
    );
  });
});
