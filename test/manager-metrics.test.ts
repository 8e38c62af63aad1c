// Per-plugin metrics: calls, errors, latency, restarts, RSS and CPU, as JSON and Prometheus text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PluginExitedError } from '@plugwire/core';
import { RemoteError } from '@plugwire/sdk';
import { echo } from './fixtures/manager/echo-api.js';
import {
  echoFolder,
  manager,
  reaches,
  tempDir,
  withManager,
} from './fixtures/manager/lib/helpers.js';
import { checkLeaks } from './helpers.js';

const { socketDir } = checkLeaks();

test('metrics count calls, errors and latency per plugin', async () => {
  const m = manager(socketDir);
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    for (let i = 0; i < 5; i++) await e.add(i, i);
    await e.sleep(30);
    await assert.rejects(e.fail('nope'), RemoteError);
    const x = (await m.metrics()).echo!;
    assert.equal(x.calls, 7);
    assert.equal(x.errors, 1);
    assert.equal(x.latency.count, 7);
    assert.ok(x.latency.sumSeconds >= 0.03, `sum ${x.latency.sumSeconds}`);
    // The 30 ms sleep lies above the 25 ms bucket; every call is below +Inf (= count).
    const le25ms = x.latency.buckets.find((b) => b.le === 0.025)!.count;
    assert.ok(le25ms <= 6, JSON.stringify(x.latency.buckets));
  } finally {
    await m.close();
  }
});

test('metrics report restarts, and the RSS and CPU time of the plugin process', async () => {
  await withManager(socketDir, { supervisor: { initialDelay: 10 } }, async (m) => {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    const back = reaches(m, 'echo', 'running');
    await assert.rejects(e.crash(1), PluginExitedError);
    await back;
    await e.burn(100);
    // The plugin's own count of its CPU time brackets the manager's sample of it. /proc counts
    // user and system time in 10 ms ticks, each rounded down: up to 2 ticks less, and a tick
    // of slack above.
    const tick = 0.01;
    const before = await e.cpu();
    const x = (await m.metrics()).echo!;
    const after = await e.cpu();
    assert.equal(x.restarts, 1);
    assert.equal(x.state, 'running');
    assert.ok(x.rssBytes! > 10 * 1024 * 1024, `rss ${x.rssBytes}`);
    assert.ok(
      x.cpuSeconds! >= before - 3 * tick && x.cpuSeconds! <= after + tick,
      `cpu ${x.cpuSeconds} outside the plugin's own [${before}, ${after}]`,
    );
  });
});

test('method names the plugin does not have count under one label, however many a caller sends', async () => {
  await withManager(socketDir, {}, async (m) => {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    await m.call('echo', 'add', [1, 2]);
    for (let i = 0; i < 50; i++) await assert.rejects(m.call('echo', `made-up-${i}`, []));
    const text = await m.prometheus();
    assert.doesNotMatch(text, /made-up-/);
    assert.match(text, /^plugwire_plugin_calls_total\{plugin="echo",method="add"\} 1$/m);
    assert.match(
      text,
      /^plugwire_plugin_call_errors_total\{plugin="echo",method="\(other\)"\} 50$/m,
    );
    const series = text.split('\n').filter((l) => l.startsWith('plugwire_plugin_calls_total{'));
    assert.equal(series.length, 2, series.join('\n'));
  });
});

test('Prometheus text has the call, error, latency, restart, state, RSS and CPU series', async () => {
  const m = manager(socketDir);
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    await e.add(1, 1);
    await assert.rejects(e.fail('x'), RemoteError);
    const text = await m.prometheus();
    for (const line of [
      'plugwire_plugin_calls_total{plugin="echo",method="add"} 1',
      'plugwire_plugin_call_errors_total{plugin="echo",method="fail"} 1',
      'plugwire_plugin_call_duration_seconds_count{plugin="echo",method="add"} 1',
      'plugwire_plugin_state{plugin="echo",state="running"} 1',
      'plugwire_plugin_state{plugin="echo",state="crashed"} 0',
    ]) {
      assert.ok(text.includes(line), `missing: ${line}`);
    }
    assert.match(
      text,
      /^plugwire_plugin_call_duration_seconds_bucket\{le="0\.001",plugin="echo",method="add"\} \d/m,
    );
    assert.match(text, /^plugwire_plugin_resident_memory_bytes\{plugin="echo"\} \d{7,}/m);
    assert.match(text, /^plugwire_plugin_cpu_seconds_total\{plugin="echo"\} [\d.]+/m);
    assert.match(text, /^# TYPE plugwire_plugin_restarts_total counter/m);
  } finally {
    await m.close();
  }
});
