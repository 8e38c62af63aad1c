// The Go example plugin (examples/go-plugin/plugin, written with the Go sdk in go/), driven by
// the TS host end to end as a bare RPC peer: the process-level contract of docs/protocol.md
// (handshake, socket directory, control channel, signals, stdin EOF, exit statuses).
//
// The Go plugin is built once for this file from Debian's Go and HashiCorp's yamux sources
// (scripts/ensure-go.mjs installs them). Without Go this file fails, saying what to install,
// unless PLUGWIRE_SKIP_GO=1, which reports every test as skipped (scripts/go.mjs: goSkip).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type LogRecord,
  PluginClient,
  type PluginClientOptions,
  PluginExitedError,
  RpcError,
  RpcPeer,
  TimeoutError,
  UnknownPluginError,
} from '@plugwire/core';
import { createClientSession, type Session } from '@plugwire/mux';
import { jsonCodec } from '@plugwire/rpc';
import { goBuild, goSkip, requireGo, SDK_PACKAGES } from '../scripts/go.mjs';
import { COOKIE_ENV, checkLeaks, eventually, isAlive } from './helpers.js';

const PLUGIN_SRC = fileURLToPath(new URL('../examples/go-plugin/plugin', import.meta.url));

const skip = goSkip();

const { socketDir } = checkLeaks();
let workDir = '';
let pluginBin = '';

// Its own deadline: a Go build can take longer than a test's (scripts/test.mjs) under load.
before(
  async () => {
    if (skip) return;
    requireGo(SDK_PACKAGES);
    workDir = mkdtempSync(join(tmpdir(), 'plugwire-go-plugin-'));
    pluginBin = join(workDir, 'calc-go');
    await goBuild({ target: '.', cwd: PLUGIN_SRC, out: pluginBin, workDir });
  },
  { timeout: 180_000 },
);

after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** A host for the Go plugin, killed after the test even when an assertion failed. */
function goClient(t: TestContext, extra: Partial<PluginClientOptions> = {}): PluginClient {
  const client = new PluginClient({
    command: pluginBin,
    plugins: { calc: {} },
    unixSocketDir: socketDir,
    ...extra,
  });
  t.after(() => client.kill());
  return client;
}

/** Starts the Go plugin without a host, as a person (or another host) would. */
function runDirectly(
  t: TestContext,
  env: Record<string, string>,
): {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  closed: Promise<[number | null, NodeJS.Signals | null]>;
} {
  const hostEnv = { ...process.env };
  delete hostEnv.PLUGWIRE_MAGIC_COOKIE;
  const child = spawn(pluginBin, [], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...hostEnv, PLUGIN_UNIX_SOCKET_DIR: socketDir, ...env },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  // 'close': the process exited and its stdio pipes are closed (no fd left behind)
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await closed;
  });
  return { child, stdout: () => out, stderr: () => err, closed };
}

/** The socket path from the handshake line, once the plugin printed it. */
async function handshakeAddress(stdout: () => string): Promise<string> {
  await eventually(() => assert.match(stdout(), /\n$/, 'no handshake line yet'), 5000);
  const fields = stdout().trim().split('|');
  assert.equal(fields.length, 5, stdout());
  assert.deepEqual(
    [fields[0], fields[1], fields[2], fields[4]],
    ['1', '1', 'unix', 'jsonrpc+json'],
  );
  return fields[3]!;
}

// ---- through the TS host ----------------------------------------------------------------

for (const [codecs, chosen] of [
  [undefined, 'msgpack'],
  [['json'], 'json'],
] as const) {
  const offered = codecs ? codecs.join(',') : 'msgpack,json (the default)';
  test(`the Go plugin serves calc to the TS host, choosing ${chosen} when the host offers ${offered}`, {
    skip,
  }, async (t) => {
    const records: LogRecord[] = [];
    const client = goClient(t, {
      logger: (r) => records.push(r),
      ...(codecs ? { codecs: [...codecs] } : {}),
    });
    const calc = await client.dispense<RpcPeer>('calc');
    assert.equal(client.codec, chosen);
    assert.equal(client.negotiatedVersion, 1);

    // §3: a fresh 0700 plugwire-XXXXXX directory in the directory the host made for this
    // plugin (PLUGIN_UNIX_SOCKET_DIR, a plugwire-XXXXXX in unixSocketDir), socket 0600 inside
    const address = client.handshake!.address;
    const dir = dirname(address);
    assert.equal(dirname(dirname(dir)), socketDir);
    assert.match(basename(dirname(dir)), /^plugwire-/);
    assert.match(basename(dir), /^plugwire-/);
    assert.equal(basename(address), 'plugin.sock');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(address).mode & 0o777, 0o600);

    assert.equal(await calc.request('add', [1, 2]), 3);
    assert.equal(await calc.request('add', [0.5, -2]), -1.5);
    const values = [null, true, 0, -1.25, 'héllo ✓', [], [1, 'two', null], { a: { b: [1, {}] } }];
    for (const v of values) assert.deepEqual(await calc.request('echo', [v]), v);
    // bytes round trip: msgpack bin, or json's {"$bytes"} (§8)
    const bytes = await calc.request<Uint8Array>('echo', [new Uint8Array([0, 1, 255])]);
    assert.ok(bytes instanceof Uint8Array, String(bytes));
    assert.deepEqual([...bytes], [0, 1, 255]);
    assert.equal(await calc.request('upper', ['abc']), 'ABC');
    const sums = await Promise.all(
      Array.from({ length: 50 }, (_, i) => calc.request('add', [i, i])),
    );
    assert.deepEqual(
      sums,
      Array.from({ length: 50 }, (_, i) => 2 * i),
    );

    const failed = await calc.request('fail', []).catch((e) => e);
    assert.ok(failed instanceof RpcError, String(failed));
    assert.equal(failed.code, -32000);
    assert.equal(failed.message, 'failed on purpose');
    assert.deepEqual(failed.data, { name: 'Error', code: 'E_PURPOSE' });
    const unknown = await calc.request('nope', []).catch((e) => e);
    assert.ok(unknown instanceof RpcError, String(unknown));
    assert.equal(unknown.code, -32601);
    const badParams = await calc.request('upper', [42]).catch((e) => e);
    assert.ok(badParams instanceof RpcError, String(badParams));
    assert.equal(badParams.code, -32602);

    // a call that times out is cancelled with $/cancelRequest; the plugin carries on
    await assert.rejects(calc.request('hang', [], { timeout: 50 }), TimeoutError);
    assert.equal(await calc.request('add', [2, 2]), 4);
    assert.equal(typeof (await client.ping()), 'number');

    const rec = records.find((r) => r.message === 'go plugin serving');
    assert.ok(rec, JSON.stringify(records));
    assert.equal(rec.level, 'info');
    assert.equal(rec.structured, true);
    assert.equal(rec.fields.pid, client.pid);
    assert.match(rec.timestamp ?? '', /^\d{4}-\d\d-\d\dT/);

    assert.deepEqual(await client.kill(), { code: 0, signal: null });
    assert.equal(existsSync(dir), false, 'socket directory left behind');
  });
}

test('dispensing a plugin the Go plugin does not serve fails with UnknownPluginError', {
  skip,
}, async (t) => {
  const client = goClient(t, { plugins: { calc: {}, other: {} } });
  const err = await client.dispense('other').catch((e) => e);
  assert.ok(err instanceof UnknownPluginError, String(err));
  assert.match(err.message, /unknown plugin "other" \(the plugin has: calc\)/);
  // each dispense gets its own broker stream; the control channel is still fine
  const calc = await client.dispense<RpcPeer>('calc');
  assert.equal(await calc.request('add', [1, 2]), 3);
  assert.deepEqual(await client.kill(), { code: 0, signal: null });
});

test('the Go plugin SIGKILLed mid-call: the pending call rejects with PluginExitedError', {
  skip,
}, async (t) => {
  const client = goClient(t);
  const calc = await client.dispense<RpcPeer>('calc');
  const dir = dirname(client.handshake!.address);
  const pending = calc.request('hang', []);
  const settled = pending.catch((e) => e);
  assert.equal(await calc.request('add', [1, 2]), 3, 'the hanging call blocks nothing');
  process.kill(client.pid!, 'SIGKILL');
  const err = await settled;
  assert.ok(err instanceof PluginExitedError, String(err));
  assert.equal(err.signal, 'SIGKILL');
  await assert.rejects(calc.request('add', [1, 2]), PluginExitedError);
  assert.deepEqual(await client.waitForExit(), { code: null, signal: 'SIGKILL' });
  // a SIGKILLed plugin cannot clean up: the host removes its socket directory
  await eventually(() => assert.equal(existsSync(dir), false, 'socket directory left behind'));
});

test('SIGTERM stops the Go plugin cleanly (exit 0); SIGINT is ignored', { skip }, async (t) => {
  const client = goClient(t);
  const calc = await client.dispense<RpcPeer>('calc');
  const dir = dirname(client.handshake!.address);
  process.kill(client.pid!, 'SIGINT');
  assert.equal(await calc.request('add', [1, 1]), 2, 'still serving after SIGINT');
  process.kill(client.pid!, 'SIGTERM');
  assert.deepEqual(await client.waitForExit(), { code: 0, signal: null });
  assert.equal(existsSync(dir), false, 'socket directory left behind');
});

// ---- without the TS host: what a plugin must do on its own -------------------------------

test('run without the cookie, the Go plugin explains itself on stderr and exits 1', {
  skip,
}, async (t) => {
  const run = runDirectly(t, {});
  run.child.stdin!.end();
  const [code] = await run.closed;
  assert.equal(code, 1);
  assert.match(run.stderr(), /This program is a plugin\. It is not meant to be run directly/);
  assert.equal(run.stdout(), '', 'no handshake');
  assert.deepEqual(readdirSync(socketDir), []);
});

test('the Go plugin exits 0 when stdin reaches EOF, removing its socket directory', {
  skip,
}, async (t) => {
  const run = runDirectly(t, {
    ...COOKIE_ENV,
    PLUGIN_PROTOCOL_VERSIONS: '2,1',
    PLUGWIRE_CODECS: 'json',
  });
  const address = await handshakeAddress(run.stdout);
  assert.ok(existsSync(address));
  run.child.stdin!.end(); // the host is gone, even one that never connected
  const [code, signal] = await run.closed;
  assert.deepEqual([code, signal], [0, null], run.stderr());
  assert.equal(existsSync(dirname(address)), false, 'socket directory left behind');
});

/** Connects to the plugin's socket as a bare host: a yamux session and the control stream. */
async function controlChannel(
  t: TestContext,
  address: string,
): Promise<{ control: RpcPeer; session: Session }> {
  const conn = connect(address);
  await once(conn, 'connect');
  const session = createClientSession(conn);
  t.after(() => session.destroy());
  return { control: new RpcPeer(session.openStream(), { codec: jsonCodec }), session };
}

test('the Go plugin answers plugwire/info, and on plugwire/quit exits 0 removing its socket directory', {
  skip,
}, async (t) => {
  const run = runDirectly(t, {
    ...COOKIE_ENV,
    PLUGIN_PROTOCOL_VERSIONS: '1',
    PLUGWIRE_CODECS: 'json',
  });
  const address = await handshakeAddress(run.stdout);
  const { control } = await controlChannel(t, address);
  assert.deepEqual(await control.request('plugwire/info', {}), {
    pid: run.child.pid,
    protocolVersion: 1,
    codec: 'json',
    plugins: ['calc'],
    methods: { calc: ['add', 'bytes', 'count', 'digest', 'echo', 'fail', 'hang', 'sum', 'upper'] },
  });
  const unknown = await control.request('plugwire/dispense', { name: 'kv' }).catch((e) => e);
  assert.ok(unknown instanceof RpcError, String(unknown));
  assert.equal(unknown.code, -32010);
  assert.deepEqual(unknown.data, { known: ['calc'] });
  // no host here to clean up after it: the plugin removes its directory itself
  assert.deepEqual(await control.request('plugwire/quit', {}), {});
  const [code, signal] = await run.closed;
  assert.deepEqual([code, signal], [0, null], run.stderr());
  assert.equal(existsSync(dirname(address)), false, 'socket directory left behind');
});

test('the Go plugin exits 0 when the connection ends, removing its socket directory', {
  skip,
}, async (t) => {
  const run = runDirectly(t, {
    ...COOKIE_ENV,
    PLUGIN_PROTOCOL_VERSIONS: '1',
    PLUGWIRE_CODECS: 'json',
  });
  const address = await handshakeAddress(run.stdout);
  const { control, session } = await controlChannel(t, address);
  assert.deepEqual(await control.request('plugwire/ping', {}), {});
  // stdin stays open: only the end of the connection tells the plugin to go
  session.destroy();
  const [code, signal] = await run.closed;
  assert.deepEqual([code, signal], [0, null], run.stderr());
  assert.equal(existsSync(dirname(address)), false, 'socket directory left behind');
  assert.ok(!isAlive(run.child.pid!));
});
