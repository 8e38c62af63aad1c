// Running, crashing and stopping plugins, end to end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import {
  cleanupClients,
  type LogRecord,
  type PluginClientOptions,
  PluginExitedError,
  type RpcPeer,
  UnknownPluginError,
} from '@plugwire/core';
import {
  COOKIE_ENV,
  checkLeaks,
  eventually,
  fixture,
  isAlive,
  calcClient as newCalcClient,
} from './helpers.js';

const { socketDir } = checkLeaks();

const calcClient = (extra: Partial<PluginClientOptions> = {}) => newCalcClient(socketDir, extra);

test('kill is idempotent and safe to call concurrently', async () => {
  const client = calcClient();
  await client.start();
  const [a, b] = await Promise.all([client.kill(), client.kill()]);
  assert.deepEqual(a, { code: 0, signal: null });
  assert.equal(a, b);
  assert.deepEqual(await client.kill(), a);
  const exit = await client.waitForExit();
  assert.deepEqual(exit, a);
});

test('kill waits the grace period and then SIGKILLs a plugin that ignores quit', async () => {
  const client = calcClient({ env: { FIXTURE_IGNORE_QUIT: '1' }, killGrace: 300 });
  await client.start();
  const started = Date.now();
  const status = await client.kill();
  const took = Date.now() - started;
  assert.equal(status.signal, 'SIGKILL');
  assert.ok(took >= 290, `killed after ${took} ms`);
  assert.ok(took < 3000, `killed after ${took} ms`);
});

// Not timed: how fast the rejection comes is the machine's business. The behaviour is that
// the calls reject (they would otherwise wait out their 10 s sleep) with the exit, not with
// a lost connection, and only once the exit status is known.
test('a plugin SIGKILLed mid-call: pending calls reject with PluginExitedError naming the signal', async () => {
  const client = calcClient();
  const calc = await client.dispense<RpcPeer>('calc');
  const statusAtRejection: unknown[] = [];
  const pending = [calc.request('sleep', [10_000]), calc.request('sleep', [10_000])].map((p) =>
    p.finally(() => statusAtRejection.push(client.exitStatus)),
  );
  const settled = Promise.allSettled(pending);
  await new Promise((r) => setImmediate(r));
  process.kill(client.pid!, 'SIGKILL');
  const results = await settled;
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    const err = (r as PromiseRejectedResult).reason;
    assert.ok(err instanceof PluginExitedError, String(err));
    assert.equal(err.code, 'PLUGWIRE_PLUGIN_EXITED');
    assert.equal(err.signal, 'SIGKILL');
  }
  assert.deepEqual(statusAtRejection, [
    { code: null, signal: 'SIGKILL' },
    { code: null, signal: 'SIGKILL' },
  ]);
  // later calls reject at once
  await assert.rejects(calc.request('add', [1, 2]), PluginExitedError);
  await assert.rejects(client.dispense('calc'), PluginExitedError);
  await client.waitForExit();
});

test('a plugin that exits mid-call reports its exit code and last stderr lines', async () => {
  const client = calcClient();
  const calc = await client.dispense<RpcPeer>('calc');
  await calc.request('stderr', ['about to fail\n']);
  const err = await calc.request('crash', [7]).catch((e) => e);
  assert.ok(err instanceof PluginExitedError, String(err));
  assert.equal(err.exitCode, 7);
  assert.match(err.message, /exited \(with code 7\)/);
  assert.ok(err.stderr.includes('about to fail'));
  const status = await client.waitForExit();
  assert.deepEqual(status, { code: 7, signal: null });
});

test("a crash's stderr tail is what the plugin wrote, without plugwire's own debug records", async () => {
  const client = calcClient();
  const calc = await client.dispense<RpcPeer>('calc');
  await calc.request('log', ['debug', 'a debug record of the plugin itself', {}]);
  await calc.request('stderr', ['about to fail\n']);
  const err = await calc.request('crash', [7]).catch((e) => e);
  assert.ok(err instanceof PluginExitedError, String(err));
  // plugwire's "plugin serving" (debug, module plugwire) was written first: it is not there
  assert.equal(err.stderr.length, 2, err.stderr.join('\n'));
  assert.match(err.stderr[0]!, /a debug record of the plugin itself/);
  assert.equal(err.stderr[1], 'about to fail');
  await client.waitForExit();
});

test("an uncaught exception in the plugin reaches the host's logger at error level with its stack", async () => {
  const records: LogRecord[] = [];
  const client = calcClient({ logger: (r) => records.push(r) });
  const calc = await client.dispense<RpcPeer>('calc');
  const err = await calc.request('throw', ['kaboom']).catch((e) => e);
  assert.ok(err instanceof PluginExitedError);
  assert.equal(err.exitCode, 1);
  const rec = records.find((r) => r.message.includes('kaboom'));
  assert.ok(rec, JSON.stringify(records));
  assert.equal(rec.level, 'error');
  assert.equal(rec.structured, true);
  assert.match(String(rec.fields.stack), /Error: kaboom\n\s+at /);
  await client.waitForExit();
});

test('stderr lines reach the logger: hclog JSON as structured records, text as info', async () => {
  const records: LogRecord[] = [];
  const raw: string[] = [];
  const client = calcClient({ logger: (r) => records.push(r), stderr: (l) => raw.push(l) });
  const calc = await client.dispense<RpcPeer>('calc');
  await calc.request('log', ['warn', 'cache nearly full', { used: 97 }]);
  await calc.request('log', ['debug', 'details', {}]);
  await calc.request('stderr', ['plain text line\n']);
  await calc.request('stderr', [`${'x'.repeat(100_000)}\n`]);
  await client.kill();
  const mine = records.filter((r) => r.module === 'calc' || !r.structured);
  assert.deepEqual(
    mine.slice(0, 3).map((r) => [r.level, r.message, r.structured, r.fields]),
    [
      ['warn', 'cache nearly full', true, { used: 97 }],
      ['debug', 'details', true, {}],
      ['info', 'plain text line', false, {}],
    ],
  );
  assert.equal(mine[0]!.plugin, 'calc-plugin');
  // a 100 000-character line arrives split, not dropped
  const long = mine.slice(3).map((r) => r.message);
  assert.equal(long.join(''), 'x'.repeat(100_000));
  assert.ok(long.length >= 2);
  assert.ok(raw.includes('plain text line'));
});

test('with both a logger and a stderr sink, an hclog record is delivered once, to the logger', async (t) => {
  const records: LogRecord[] = [];
  const raw: string[] = [];
  const client = calcClient({ logger: (r) => records.push(r), stderr: (l) => raw.push(l) });
  t.after(() => client.kill());
  const calc = await client.dispense<RpcPeer>('calc');
  await calc.request('log', ['warn', 'cache nearly full', { used: 97 }]);
  await calc.request('stderr', ['plain text line\n']);
  await client.kill();
  assert.equal(records.filter((r) => r.message === 'cache nearly full').length, 1);
  assert.deepEqual(
    raw.filter((l) => l.includes('cache nearly full')),
    [],
    'not also given raw to stderr',
  );
  assert.ok(raw.includes('plain text line'), 'text lines still reach the stderr sink');
});

test('a normal kill() asks the plugin to quit: it does not stop on "the host is gone"', async (t) => {
  const records: LogRecord[] = [];
  const client = calcClient({ logger: (r) => records.push(r) });
  t.after(() => client.kill());
  await client.start();
  assert.deepEqual(await client.kill(), { code: 0, signal: null });
  const stops = records.filter((r) => r.message === 'plugin shutting down');
  assert.deepEqual(
    stops.map((r) => r.fields.reason),
    ['the host asked to quit'],
    JSON.stringify(records),
  );
});

test('dispensing a plugin the host or the plugin does not know fails with UnknownPluginError', async () => {
  const client = calcClient({ plugins: { calc: {}, other: {} } });
  const onHost = await client.dispense('nope').catch((e) => e);
  assert.ok(onHost instanceof UnknownPluginError);
  assert.match(onHost.message, /unknown plugin "nope" \(the host has: calc, other\)/);
  const onPlugin = await client.dispense('other').catch((e) => e);
  assert.ok(onPlugin instanceof UnknownPluginError);
  assert.match(onPlugin.message, /unknown plugin "other" \(the plugin has: calc\)/);
  await client.kill();
});

test("the host's config reaches the plugin's init hook before the first call", async () => {
  const client = calcClient({
    config: { region: 'eu', limits: [1, 2], secret: Buffer.from('s3') },
  });
  const calc = await client.dispense<RpcPeer>('calc');
  const got = (await calc.request('config', [])) as {
    region: string;
    limits: number[];
    secret: Uint8Array;
  };
  assert.equal(got.region, 'eu');
  assert.deepEqual(got.limits, [1, 2]);
  assert.equal(Buffer.from(got.secret).toString(), 's3');
  await client.kill();
});

test('an init hook that throws fails the start, and the plugin is stopped', async () => {
  const client = calcClient({ config: { fail: true } });
  const err = await client.start().catch((e) => e);
  assert.match(String(err?.message), /refusing this config/);
  assert.equal(client.exited, true);
});

test('dispensing the same name twice gives the same client', async () => {
  const client = calcClient();
  const [a, b] = await Promise.all([client.dispense('calc'), client.dispense('calc')]);
  assert.equal(a, b);
  await client.kill();
});

test('SIGTERM stops a plugin cleanly (exit 0); SIGINT is left to the host', async () => {
  const client = calcClient();
  const calc = await client.dispense<RpcPeer>('calc');
  process.kill(client.pid!, 'SIGINT');
  assert.equal(await calc.request('add', [1, 1]), 2, 'still serving after SIGINT');
  process.kill(client.pid!, 'SIGTERM');
  assert.deepEqual(await client.waitForExit(), { code: 0, signal: null });
});

test('cleanupClients kills every managed plugin', async () => {
  const clients = [calcClient(), calcClient(), calcClient({ managed: false })];
  await Promise.all(clients.map((c) => c.start()));
  await cleanupClients();
  assert.deepEqual(
    clients.map((c) => c.exited),
    [true, true, false],
  );
  await clients[2]!.kill();
});

test('a plugin whose host is gone before connecting exits when its stdin closes', async () => {
  const plugin = spawn(process.execPath, [fixture('calc-plugin')], {
    stdio: ['pipe', 'pipe', 'ignore'],
    env: {
      ...process.env,
      ...COOKIE_ENV,
      PLUGIN_UNIX_SOCKET_DIR: socketDir,
    },
  });
  const [line] = await once(plugin.stdout!, 'data');
  assert.match(String(line), /^1\|1\|unix\|/);
  plugin.stdin!.end(); // what the kernel does when the host dies
  const [code] = await once(plugin, 'exit');
  assert.equal(code, 0);
});

test('a plugin whose host is SIGKILLed exits by itself within 2 s', async () => {
  const host = spawn(process.execPath, [fixture('orphan-host'), fixture('calc-plugin')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PLUGIN_UNIX_SOCKET_DIR: socketDir },
  });
  const [chunk] = await once(host.stdout!, 'data');
  const pluginPid = Number(String(chunk).trim());
  assert.ok(isAlive(pluginPid));
  host.kill('SIGKILL');
  await once(host, 'exit');
  const killedAt = Date.now();
  await eventually(() => assert.equal(isAlive(pluginPid), false, 'plugin still running'), 2000);
  assert.ok(Date.now() - killedAt < 2000);
});
