// Hot upgrade: the new version starts next to the old, new calls go to it, calls in flight
// finish on the old one, then the old one stops; no call fails because of the switch.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { UpgradeError } from '@plugwire/manager';
import { echo } from './fixtures/manager/echo-api.js';
import { echoFolder, manager, statesOf, tempDir } from './fixtures/manager/lib/helpers.js';
import { checkLeaks, isAlive } from './helpers.js';

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
  const m = manager(socketDir);
  try {
    await m.load({ path: v1 });
    const e = await m.dispense('echo', echo);
    const oldPid = await e.pid();
    let longDone = false;
    const long = e.sleep(1500).then((r) => {
      longDone = true;
      return r;
    });
    await m.upgrade('echo', { path: v2 });
    assert.equal(longDone, true, 'upgrade() waited for the call in flight');
    assert.deepEqual(await long, { ms: 1500, version: '1.0.0' });
    assert.equal(isAlive(oldPid), false);
    assert.equal(await e.version(), '2.0.0');
  } finally {
    await m.close();
  }
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
