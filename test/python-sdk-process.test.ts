// What a Python plugin (python/plugwire) does on its own, without the TS host's PluginClient:
// the cookie, negotiation, the handshake line and its socket, stdin EOF, the end of the
// connection, quit racing stdin's EOF, signals, and a bare host that breaks the rules
// (malformed markers, a frame over the limit, a second connection). The same fixture as
// test/python-sdk-plugin.test.ts. Without Python this file fails, saying what to install,
// unless PLUGWIRE_SKIP_PYTHON=1, which reports every test as skipped.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, dirname } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RpcError, RpcPeer } from '@plugwire/core';
import { createClientSession, MuxBroker, type Session } from '@plugwire/mux';
import { jsonCodec } from '@plugwire/rpc';
import { findPython } from '../scripts/python.mjs';
import { checkLeaks, eventually, isAlive } from './helpers.js';

const PYTHON_DIR = fileURLToPath(new URL('../python', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../python/tests/fixtures/calc_plugin.py', import.meta.url));
const COOKIE = { PLUGWIRE_MAGIC_COOKIE: 'b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41' };
const HOST_ENV = { ...COOKIE, PLUGIN_PROTOCOL_VERSIONS: '1', PLUGWIRE_CODECS: 'json' };
const found = findPython();
const skip =
  found.python === undefined && process.env.PLUGWIRE_SKIP_PYTHON === '1'
    ? `PLUGWIRE_SKIP_PYTHON=1 (${found.missing}): the Python plugin tests are skipped`
    : false;

const { socketDir } = checkLeaks();

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  closed: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Starts the Python plugin without a host, as a person (or a bare host) would. */
function runDirectly(t: TestContext, env: Record<string, string>): Run {
  if (found.python === undefined) {
    throw new Error(
      `no Python 3.11+ with msgpack and pytest (${found.missing}): run ` +
        '`node scripts/ensure-python.mjs`, or set PLUGWIRE_SKIP_PYTHON=1 to skip these tests.',
    );
  }
  const hostEnv = { ...process.env };
  delete hostEnv.PLUGWIRE_MAGIC_COOKIE;
  const child = spawn(found.python, [FIXTURE], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...hostEnv,
      PYTHONPATH: PYTHON_DIR,
      PYTHONDONTWRITEBYTECODE: '1',
      PLUGIN_UNIX_SOCKET_DIR: socketDir,
      ...env,
    },
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
async function handshakeAddress(run: Run): Promise<string> {
  await eventually(
    () => assert.match(run.stdout(), /\n$/, `no handshake yet: ${run.stderr()}`),
    10_000,
  );
  const fields = run.stdout().trim().split('|');
  assert.equal(fields.length, 5, run.stdout());
  assert.deepEqual(
    [fields[0], fields[1], fields[2], fields[4]],
    ['1', '1', 'unix', 'jsonrpc+json'],
  );
  return fields[3]!;
}

/** A bare host: a yamux client session on the plugin's socket and the control stream. */
async function bareHost(
  t: TestContext,
  address: string,
): Promise<{ control: RpcPeer; session: Session; broker: MuxBroker }> {
  const conn = connect(address);
  await once(conn, 'connect');
  const session = createClientSession(conn);
  t.after(() => session.destroy());
  const control = new RpcPeer(session.openStream(), { codec: jsonCodec });
  return { control, session, broker: new MuxBroker(session) };
}

async function exitsCleanly(run: Run, address: string): Promise<void> {
  const [code, signal] = await run.closed;
  assert.deepEqual([code, signal], [0, null], run.stderr());
  assert.equal(existsSync(dirname(address)), false, 'socket directory left behind');
}

test('run without the cookie, a Python plugin explains itself on stderr and exits 1', {
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

test('a Python plugin with no protocol version in common logs why and exits 1', {
  skip,
}, async (t) => {
  const run = runDirectly(t, { ...COOKIE, PLUGIN_PROTOCOL_VERSIONS: '3,2' });
  run.child.stdin!.end();
  const [code] = await run.closed;
  assert.equal(code, 1);
  const record = JSON.parse(run.stderr().trim().split('\n').pop()!);
  assert.equal(record['@level'], 'error');
  assert.match(record['@message'], /no common protocol version: the host offers \[3, 2\]/);
  assert.equal(run.stdout(), '');
});

test('a Python plugin with no codec in common logs why and exits 1', { skip }, async (t) => {
  const run = runDirectly(t, { ...COOKIE, PLUGWIRE_CODECS: 'cbor' });
  run.child.stdin!.end();
  const [code] = await run.closed;
  assert.equal(code, 1);
  assert.match(run.stderr(), /no common codec/);
});

test('a Python plugin picks the highest common version and the host codec order, and listens on a private socket', {
  skip,
}, async (t) => {
  const run = runDirectly(t, {
    ...COOKIE,
    PLUGIN_PROTOCOL_VERSIONS: ' 2, x, 1',
    PLUGWIRE_CODECS: 'cbor, json,msgpack',
  });
  const address = await handshakeAddress(run);
  const dir = dirname(address);
  assert.equal(dirname(dir), socketDir);
  assert.match(basename(dir), /^plugwire-/);
  assert.equal(basename(address), 'plugin.sock');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(address).mode & 0o777, 0o600);
  run.child.stdin!.end(); // the host is gone, even one that never connected
  await exitsCleanly(run, address);
});

test('a Python plugin answers plugwire/info and ping, and refuses an unknown dispense with -32010', {
  skip,
}, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const address = await handshakeAddress(run);
  const { control } = await bareHost(t, address);
  assert.deepEqual(await control.request('plugwire/ping', {}), {});
  const info = await control.request<Record<string, unknown>>('plugwire/info', {});
  assert.equal(info.pid, run.child.pid);
  assert.equal(info.protocolVersion, 1);
  assert.equal(info.codec, 'json');
  assert.deepEqual(info.plugins, ['calc']);
  assert.ok((info.methods as Record<string, string[]>).calc!.includes('add'));
  const unknown = await control.request('plugwire/dispense', { name: 'kv' }).catch((e) => e);
  assert.ok(unknown instanceof RpcError, String(unknown));
  assert.equal(unknown.code, -32010);
  assert.deepEqual(unknown.data, { known: ['calc'] });
  assert.deepEqual(await control.request('plugwire/quit', {}), {});
  await exitsCleanly(run, address);
});

test('a Python plugin answers quit even when the host closes stdin at the same moment (6 of 6 runs)', {
  skip,
}, async (t) => {
  for (let i = 0; i < 6; i++) {
    const run = runDirectly(t, HOST_ENV);
    const address = await handshakeAddress(run);
    const { control } = await bareHost(t, address);
    assert.deepEqual(await control.request('plugwire/ping', {}), {});
    // The worse order: stdin's EOF first, quit right behind it.
    run.child.stdin!.end();
    const answer = control.request('plugwire/quit', {});
    assert.deepEqual(await answer, {}, `run ${i}: quit not answered`);
    await exitsCleanly(run, address);
  }
});

test('after stdin EOF a Python plugin waits for quit on a live connection (grace: 1 s)', {
  skip,
}, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const address = await handshakeAddress(run);
  const { control } = await bareHost(t, address);
  assert.deepEqual(await control.request('plugwire/ping', {}), {});
  run.child.stdin!.end();
  // Time is the behaviour here: a quit 200 ms after the EOF is within the grace period.
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await control.request('plugwire/quit', {}), {});
  await exitsCleanly(run, address);
});

test('after stdin EOF a Python plugin whose host neither quits nor disconnects exits after the grace', {
  skip,
}, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const address = await handshakeAddress(run);
  const { control } = await bareHost(t, address);
  assert.deepEqual(await control.request('plugwire/ping', {}), {});
  const started = Date.now();
  run.child.stdin!.end();
  await exitsCleanly(run, address);
  // 1 s of grace for a quit, then the exit; 5 s leaves room for a loaded machine
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});

test('a Python plugin exits 0 when the connection ends, with stdin still open', {
  skip,
}, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const address = await handshakeAddress(run);
  const { control, session } = await bareHost(t, address);
  assert.deepEqual(await control.request('plugwire/ping', {}), {});
  session.destroy();
  await exitsCleanly(run, address);
  assert.ok(!isAlive(run.child.pid!));
});

test('SIGTERM stops a Python plugin cleanly (exit 0); SIGINT is ignored', { skip }, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const address = await handshakeAddress(run);
  const { control } = await bareHost(t, address);
  process.kill(run.child.pid!, 'SIGINT');
  assert.deepEqual(await control.request('plugwire/ping', {}), {}, 'still serving after SIGINT');
  process.kill(run.child.pid!, 'SIGTERM');
  await exitsCleanly(run, address);
});

test('a Python plugin refuses a second connection while a host is connected', {
  skip,
}, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const address = await handshakeAddress(run);
  const { control } = await bareHost(t, address);
  const second = connect(address);
  second.on('error', () => {});
  await once(second, 'close');
  assert.deepEqual(await control.request('plugwire/ping', {}), {});
  assert.deepEqual(await control.request('plugwire/quit', {}), {});
  await exitsCleanly(run, address);
});

/** Dispenses calc as a bare host and returns its broker stream. */
async function dispenseRaw(t: TestContext, run: Run) {
  const address = await handshakeAddress(run);
  const host = await bareHost(t, address);
  const { id } = await host.control.request<{ id: number }>('plugwire/dispense', { name: 'calc' });
  assert.equal(id % 2, 0, 'the plugin mints even broker ids');
  const stream = await host.broker.dial(id);
  return { ...host, address, stream };
}

test('malformed markers from a host are answered with errors, and the Python plugin goes on serving', {
  skip,
}, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const { control, stream, address } = await dispenseRaw(t, run);
  const calc = new RpcPeer(stream, { codec: jsonCodec });
  const bad = [
    { $plugwire: 'nope', id: 1 },
    { $plugwire: 'obj', id: 1, methods: 'add' },
  ];
  for (const marker of bad) {
    const err = await calc.request('echo', [marker]).catch((e) => e);
    assert.ok(err instanceof RpcError, String(err));
    assert.equal(err.code, -32000);
    assert.equal((err.data as { code: string }).code, 'PLUGWIRE_BAD_MARKER');
  }
  const many = Array.from({ length: 65 }, (_, i) => ({ $plugwire: 'fn', id: 2 * i + 1 }));
  const tooMany = await calc.request('echo', many).catch((e) => e);
  assert.ok(tooMany instanceof RpcError, String(tooMany));
  assert.match(tooMany.message, /65 stream markers in one call/);
  assert.equal(await calc.request('add', [2, 3]), 5);
  assert.deepEqual(await control.request('plugwire/quit', {}), {});
  await exitsCleanly(run, address);
});

test('a frame over the Python plugin message limit is refused from its header with -32003', {
  skip,
}, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const { control, stream, address } = await dispenseRaw(t, run);
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(stream, 'end');
  // 4 GiB - 1 announced, nothing sent after it: the answer must come from the header alone.
  stream.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  await ended; // and the plugin closed the stream
  const all = Buffer.concat(chunks);
  const body = JSON.parse(all.subarray(4, 4 + all.readUInt32BE(0)).toString());
  assert.equal(body.id, null);
  assert.equal(body.error.code, -32003);
  assert.deepEqual(body.error.data, { size: 0xffff_ffff, limit: 64 * 1024 * 1024 });
  // the plugin is fine: the control channel still answers
  assert.deepEqual(await control.request('plugwire/ping', {}), {});
  assert.deepEqual(await control.request('plugwire/quit', {}), {});
  stream.destroy();
  await exitsCleanly(run, address);
});

test('a Python plugin whose event loop is stuck still exits when stdin reaches EOF', {
  skip,
}, async (t) => {
  const run = runDirectly(t, HOST_ENV);
  const { control, stream, address } = await dispenseRaw(t, run);
  const calc = new RpcPeer(stream, { codec: jsonCodec });
  assert.equal(await calc.request('add', [1, 1]), 2);
  void calc.request('spin', [120]).catch(() => {}); // blocks the plugin's loop for 2 minutes
  void control.request('plugwire/ping', {}).catch(() => {});
  const started = Date.now();
  run.child.stdin!.end();
  await exitsCleanly(run, address);
  // grace for quit (1 s) + the stuck loop's grace (1 s), with room for a loaded machine
  assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
});
