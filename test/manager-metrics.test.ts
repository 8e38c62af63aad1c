// Per-plugin metrics: calls, errors, latency, restarts, RSS and CPU, as JSON and Prometheus text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PluginExitedError } from '@plugwire/core';
import { RemoteError } from '@plugwire/sdk';
import { echo } from './fixtures/manager/echo-api.js';
import { echoFolder, manager, reaches, tempDir } from './fixtures/manager/lib/helpers.js';
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
  const m = manager(socketDir, { supervisor: { initialDelay: 10 } });
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo') });
    const e = await m.dispense('echo', echo);
    const back = reaches(m, 'echo', 'running');
    await assert.rejects(e.crash(1), PluginExitedError);
    await back;
    await e.burn(300);
    const x = (await m.metrics()).echo!;
    assert.equal(x.restarts, 1);
    assert.equal(x.state, 'running');
    assert.ok(x.rssBytes! > 10 * 1024 * 1024, `rss ${x.rssBytes}`);
    assert.ok(x.cpuSeconds! >= 0.25, `cpu ${x.cpuSeconds}`);
  } finally {
    await m.close();
  }
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
