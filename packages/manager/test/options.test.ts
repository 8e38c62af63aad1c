// The manager's options: defaults in one place, and values it cannot honour refused at
// construction with a TypeError or RangeError naming the option (no process is started).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, managerDefaults, PluginManager, readConfig } from '@plugwire/manager';

const dir = mkdtempSync(join(tmpdir(), 'pw-options-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const make = (o: ConstructorParameters<typeof PluginManager>[0]) => () =>
  new PluginManager({ cacheDir: dir, ...o });

test('a negative time is a RangeError naming the option', () => {
  for (const k of ['drainTimeout', 'waitTimeout', 'killGrace', 'startTimeout', 'watchDebounce']) {
    assert.throws(make({ [k]: -1 }), (err: Error) => {
      assert.ok(err instanceof RangeError, k);
      assert.match(err.message, new RegExp(`^${k} must be ≥ 0 ms \\(got -1\\)`));
      return true;
    });
  }
});

test('a time that is not a number is a TypeError naming the option', () => {
  assert.throws(make({ drainTimeout: '5s' as never }), {
    name: 'TypeError',
    message: /^drainTimeout must be a number of milliseconds \(got "5s"\)/,
  });
  assert.throws(make({ waitTimeout: Number.NaN }), TypeError);
});

test('whileRestarting must be fail or wait', () => {
  assert.throws(make({ whileRestarting: 'retry' as never }), {
    name: 'TypeError',
    message: /^whileRestarting must be 'fail' or 'wait' \(got "retry"\)/,
  });
});

test('supervisor options are checked by name', () => {
  assert.throws(make({ supervisor: { factor: 0.5 } }), {
    name: 'RangeError',
    message: /^supervisor\.factor must be ≥ 1 \(got 0\.5\)/,
  });
  assert.throws(make({ supervisor: { maxRestarts: 1.5 } }), RangeError);
  assert.throws(make({ supervisor: { retries: 3 } as never }), {
    name: 'TypeError',
    message: /^supervisor\.retries is not a supervisor option/,
  });
});

test('dirs, paths and autoStart are type-checked', () => {
  assert.throws(make({ dirs: 'plugins' as never }), { name: 'TypeError', message: /^dirs / });
  assert.throws(make({ cacheDir: 42 as never }), { name: 'TypeError', message: /^cacheDir / });
  assert.throws(make({ autoStart: 'yes' as never }), {
    name: 'TypeError',
    message: /^autoStart /,
  });
});

test('the defaults are the documented ones', () => {
  assert.deepEqual(managerDefaults, {
    whileRestarting: 'fail',
    waitTimeout: 30_000,
    drainTimeout: 30_000,
    autoStart: false,
    watchDebounce: 150,
  });
});

test('a handle with a bad waitTimeout is refused at dispense', async () => {
  const m = new PluginManager({ cacheDir: dir });
  await assert.rejects(
    m.dispense('echo', { name: 'echo' }, { waitTimeout: -5 }),
    // the plugin is not loaded: that is said first
    /no plugin "echo" is loaded/,
  );
  await m.close();
});

test('a config file with a bad supervisor value is a ConfigError naming the field', () => {
  const file = join(dir, 'plugwire.config.json');
  writeFileSync(file, JSON.stringify({ supervisor: { factor: 0 } }));
  assert.throws(
    () => readConfig(file),
    (err: ConfigError) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.field, 'supervisor.factor');
      assert.match(err.message, /"supervisor\.factor" must be ≥ 1 \(got 0\)/);
      return true;
    },
  );
});
