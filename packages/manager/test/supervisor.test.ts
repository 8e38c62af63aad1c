// The restart policy alone, on a clock the test controls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CrashHistory } from '@plugwire/manager';
import { checkLeaks } from '../../../test/support/leaks.js';

checkLeaks();

test('the restart delay doubles with each crash in the window', () => {
  const h = new CrashHistory({ initialDelay: 100, factor: 2, maxRestarts: 10 });
  const delays = [0, 1, 2, 3].map((i) => h.crash(1000 + i));
  assert.deepEqual(
    delays.map((v) => (v.restart ? v.delay : -1)),
    [100, 200, 400, 800],
  );
});

test('the restart delay never exceeds maxDelay', () => {
  const h = new CrashHistory({ initialDelay: 100, factor: 10, maxDelay: 5000, maxRestarts: 10 });
  const last = [0, 1, 2, 3].map((i) => h.crash(i)).at(-1)!;
  assert.deepEqual(last, { restart: true, delay: 5000, crashes: 4 });
});

test('one crash more than maxRestarts within the window gives up', () => {
  const h = new CrashHistory({ maxRestarts: 2, window: 1000 });
  assert.equal(h.crash(0).restart, true);
  assert.equal(h.crash(10).restart, true);
  assert.deepEqual(h.crash(20), { restart: false, crashes: 3 });
});

test('crashes older than the window are forgotten, and the delay starts over', () => {
  const h = new CrashHistory({ initialDelay: 100, maxRestarts: 2, window: 1000 });
  h.crash(0);
  h.crash(10);
  assert.deepEqual(h.crash(5000), { restart: true, delay: 100, crashes: 1 });
});
