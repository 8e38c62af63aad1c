// The start of a plugin, end to end: real processes, real sockets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import {
  HandshakeError,
  PluginClient,
  type PluginClientOptions,
  type RpcPeer,
  StartTimeoutError,
} from '@plugwire/core';
import { checkLeaks, fixture, calcClient as newCalcClient } from './helpers.js';

const { socketDir } = checkLeaks();

const calcClient = (extra: Partial<PluginClientOptions> = {}) => newCalcClient(socketDir, extra);

function fake(env: Record<string, string>, extra: Partial<PluginClientOptions> = {}): PluginClient {
  return new PluginClient({
    command: process.execPath,
    args: [fixture('fake-plugin')],
    env,
    plugins: { calc: {} },
    unixSocketDir: socketDir,
    ...extra,
  });
}

test('a plugin starts, answers calls on a dispensed plugin, and exits 0 when killed', async () => {
  const client = calcClient();
  const calc = await client.dispense<RpcPeer>('calc');
  assert.equal(await calc.request('add', [1, 2]), 3);
  assert.equal(client.state, 'running');
  assert.equal(client.negotiatedVersion, 1);
  assert.equal(client.codec, 'msgpack');
  assert.equal(await calc.request('pid', []), client.pid);
  const rtt = await client.ping();
  assert.ok(rtt >= 0 && rtt < 1000);
  const status = await client.kill();
  assert.deepEqual(status, { code: 0, signal: null });
  assert.equal(client.exited, true);
});

test('a plugin run by hand without the cookie explains itself on stderr and exits 1', () => {
  const r = spawnSync(process.execPath, [fixture('calc-plugin')], { encoding: 'utf8', env: {} });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /This program is a plugin\. It is not meant to be run directly/);
});

test('a plugin started with a different cookie than its own does not start', async () => {
  const client = calcClient({
    handshake: { magicCookieKey: 'OTHER_COOKIE', magicCookieValue: 'x' },
  });
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError);
  assert.match(err.message, /exited before the handshake \(with code 1\)/);
  assert.match(err.message, /This program is a plugin/);
});

for (const [line, why] of [
  ['1|1|unix|', /4 fields/],
  ['1|1|unix||jsonrpc+msgpack', /empty address/],
  ['2|1|unix|/tmp/x.sock|jsonrpc+msgpack', /core protocol version 2 is not supported/],
  ['1|5|unix|/tmp/x.sock|jsonrpc+msgpack', /app protocol version 5 was not offered by the host/],
  ['1|1|unix|/tmp/x.sock|jsonrpc+yaml', /codec "yaml" was not offered/],
] as const) {
  test(`a bad handshake line fails the start with the line and what was expected: ${line}`, async () => {
    const client = fake({ FIXTURE_MODE: 'line', FIXTURE_LINE: line });
    const started = Date.now();
    const err = await client.start().catch((e) => e);
    assert.ok(err instanceof HandshakeError, String(err));
    assert.match(err.message, why);
    assert.ok(err.message.includes(line));
    assert.ok(Date.now() - started < 5000, 'fails at once, not at the start timeout');
    assert.equal(client.state, 'exited');
  });
}

test('a plugin that never prints a handshake fails with StartTimeoutError and is killed', async () => {
  // long enough for a loaded machine to start node and let it write its stderr line
  const client = fake({ FIXTURE_MODE: 'silent' }, { startTimeout: 5_000 });
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof StartTimeoutError);
  assert.equal(err.code, 'PLUGWIRE_START_TIMEOUT');
  assert.match(err.message, /within 5000 ms/);
  assert.match(err.message, /starting up slowly/, 'shows the stderr tail');
  assert.deepEqual(err.stderr, ['starting up slowly...'], 'and carries it');
  assert.equal(client.exitStatus?.signal, 'SIGKILL');
});

test('a plugin that exits before the handshake fails the start with its code and stderr', async () => {
  const client = fake({ FIXTURE_MODE: 'exit' });
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError);
  assert.match(err.message, /exited before the handshake \(with code 3\)/);
  assert.match(err.message, /fatal: config file missing/);
  assert.deepEqual(err.stderr, ['fatal: config file missing'], 'the error carries the tail');
});

test('a command that does not exist fails the start with a spawn error', async () => {
  const client = new PluginClient({
    command: '/nonexistent/plugin',
    plugins: {},
    unixSocketDir: socketDir,
  });
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError);
  assert.equal(err.code, 'PLUGWIRE_SPAWN');
  assert.match(err.message, /ENOENT/);
});

test('the highest protocol version both sides have is negotiated', async () => {
  for (const [host, plugin, want] of [
    [[1, 2], '1,2,3', 2],
    [[1], '1,2', 1],
    [[3, 2], '2,3', 3],
  ] as const) {
    const versionedPlugins = Object.fromEntries(host.map((v) => [v, { calc: {} }]));
    const client = new PluginClient({
      command: process.execPath,
      args: [fixture('calc-plugin')],
      env: { FIXTURE_VERSIONS: plugin },
      versionedPlugins,
      unixSocketDir: socketDir,
    });
    const calc = await client.dispense<RpcPeer>('calc');
    assert.equal(client.negotiatedVersion, want);
    assert.equal(await calc.request('version', []), want);
    await client.kill();
  }
});

test('a plugin with no version in common with the host fails the start and says so', async () => {
  const client = new PluginClient({
    command: process.execPath,
    args: [fixture('calc-plugin')],
    env: { FIXTURE_VERSIONS: '4,5' },
    versionedPlugins: { 1: {}, 2: {} },
    unixSocketDir: socketDir,
  });
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError);
  assert.match(
    err.message,
    /no common protocol version: the host offers \[2, 1\], this plugin serves \[4, 5\]/,
  );
});

test("the codec follows the host's preference", async () => {
  const client = calcClient({ codecs: ['json', 'msgpack'] });
  const calc = await client.dispense<RpcPeer>('calc');
  assert.equal(client.codec, 'json');
  assert.equal(await calc.request('add', [2, 2]), 4);
  await client.kill();
});

test('output printed before and after serve() never breaks the handshake and is forwarded', async () => {
  const lines: string[] = [];
  const client = calcClient({ env: { FIXTURE_STRAY_STDOUT: '1' }, stdout: (l) => lines.push(l) });
  const calc = await client.dispense<RpcPeer>('calc');
  assert.equal(await calc.request('add', [1, 1]), 2);
  await calc.request('stdout', ['printed by a handler']);
  await client.kill();
  assert.deepEqual(lines, [
    'a line printed before serve()',
    'and output without a newline',
    'a line printed after serve()',
    'printed by a handler',
  ]);
});

test('a plugin can listen on loopback tcp within a port range', async () => {
  const client = calcClient({ network: 'tcp', minPort: 41000, maxPort: 41050 });
  const calc = await client.dispense<RpcPeer>('calc');
  assert.equal(await calc.request('add', [20, 22]), 42);
  assert.equal(client.handshake?.network, 'tcp');
  const port = Number(client.handshake?.address.split(':')[1]);
  assert.ok(port >= 41000 && port <= 41050);
  await client.kill();
});

test('a program that prints other output and keeps running fails the start at startTimeout, quoting what it printed', async (t) => {
  const client = new PluginClient({
    command: process.execPath,
    args: [
      '-e',
      "console.log('Server listening on port 8080'); console.log('x'.repeat(5000)); setInterval(() => {}, 1000);",
    ],
    plugins: { calc: {} },
    unixSocketDir: socketDir,
    startTimeout: 1_000,
  });
  t.after(() => client.kill());
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof StartTimeoutError, String(err));
  assert.equal(err.stdout[0], 'Server listening on port 8080');
  assert.ok(err.stdout[1]!.length < 300, 'a long line is quoted cut');
  assert.match(
    err.message,
    /printed to stdout instead of a handshake line[\s\S]*Server listening on port 8080/,
  );
});

test('a program that prints other output and exits fails the start at once, quoting what it printed', async () => {
  const client = new PluginClient({
    command: process.execPath,
    args: ['-e', "console.log('usage: tool [options]'); process.exit(2);"],
    plugins: { calc: {} },
    unixSocketDir: socketDir,
  });
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.deepEqual(err.stdout, ['usage: tool [options]']);
  assert.match(err.message, /exited before the handshake[\s\S]*usage: tool \[options\]/);
  assert.equal(client.exited, true);
});
