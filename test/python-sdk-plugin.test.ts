// A plugin written in Python with the Python SDK (python/plugwire), driven by the TypeScript
// host (PluginClient + definePlugin) end to end, with json and with msgpack: data and binary,
// errors with codes, a callback into the host, byte streams and object streams both ways,
// cancellation, init config, hclog records, quit. The fixture is
// python/tests/fixtures/calc_plugin.py; the interpreter is the one scripts/python.mjs finds.
// Without one this file fails, saying what to install, unless PLUGWIRE_SKIP_PYTHON=1, which
// reports every test as skipped.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type LogRecord,
  PluginClient,
  type PluginClientOptions,
  TimeoutError,
} from '@plugwire/core';
import { definePlugin, RemoteError } from '@plugwire/sdk';
import { findPython } from '../scripts/python.mjs';
import { checkLeaks, eventually } from './helpers.js';

const PYTHON_DIR = fileURLToPath(new URL('../python', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../python/tests/fixtures/calc_plugin.py', import.meta.url));
const found = findPython();
const skip =
  found.python === undefined && process.env.PLUGWIRE_SKIP_PYTHON === '1'
    ? `PLUGWIRE_SKIP_PYTHON=1 (${found.missing}): the Python plugin tests are skipped`
    : false;

interface Calc {
  add(a: number, b: number): number;
  echo(value: unknown): unknown;
  count(n: number, onProgress: (i: number) => number | Promise<number>): number;
  upload(data: Readable): { size: number; sha256: string };
  download(size: number): Readable;
  items(n: number): AsyncIterable<{ i: number }>;
  forever(): AsyncIterable<number>;
  forever_bytes(): Readable;
  closed(): number;
  total(items: AsyncIterable<number>): number;
  fail(code: string): void;
  hang(): void;
  cancelled(): number;
  config(): unknown;
  pid(): number;
  log(message: string): void;
}
const calc = definePlugin<Calc>({
  name: 'calc',
  methods: [
    'add',
    'echo',
    'count',
    'upload',
    'download',
    'items',
    'forever',
    'forever_bytes',
    'closed',
    'total',
    'fail',
    'hang',
    'cancelled',
    'config',
    'pid',
    'log',
  ],
});

const { socketDir } = checkLeaks();

/** A host for the Python plugin, killed after the test even when an assertion failed. */
function pythonClient(t: TestContext, extra: Partial<PluginClientOptions> = {}): PluginClient {
  if (found.python === undefined) {
    throw new Error(
      `no Python 3.11+ with msgpack and pytest (${found.missing}): run ` +
        '`node scripts/ensure-python.mjs`, or set PLUGWIRE_SKIP_PYTHON=1 to skip these tests.',
    );
  }
  const client = new PluginClient({
    command: found.python,
    args: [FIXTURE],
    env: { PYTHONPATH: PYTHON_DIR, PYTHONDONTWRITEBYTECODE: '1' },
    plugins: { calc },
    unixSocketDir: socketDir,
    ...extra,
  });
  t.after(() => client.kill());
  return client;
}

/**
 * Stops the plugin through the host (quit, stdin closed) and checks that it exited 0. The
 * leak check runs before `t.after` hooks, so every test stops its plugin itself.
 */
async function stopsCleanly(client: PluginClient): Promise<void> {
  assert.deepEqual(await client.kill(), { code: 0, signal: null });
}

function pattern(size: number): Buffer {
  const block = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 256) block.copy(out, i, 0, Math.min(256, size - i));
  return out;
}

for (const codec of ['json', 'msgpack']) {
  test(`a Python plugin serves data, binary and errors with codes to the TS host (${codec})`, {
    skip,
  }, async (t) => {
    const client = pythonClient(t, { codecs: [codec] });
    const c = await client.dispense(calc);
    assert.equal(client.codec, codec);
    assert.equal(await c.add(1, 2), 3);
    assert.equal(await c.add(0.5, -2), -1.5);
    const values = [null, true, 0, -1.25, 'héllo ✓', [], [1, 'two', null], { a: { b: [1, {}] } }];
    for (const v of values) assert.deepEqual(await c.echo(v), v);
    const bytes = await c.echo(new Uint8Array([0, 1, 255]));
    assert.ok(bytes instanceof Uint8Array, String(bytes));
    assert.deepEqual([...(bytes as Uint8Array)], [0, 1, 255]);
    // Dates: msgpack's timestamp extension both ways; json sends the ISO string
    const when = new Date('2026-12-03T18:00:00.123Z');
    assert.deepEqual(await c.echo(when), codec === 'msgpack' ? when : when.toISOString());
    const big = 2 ** 40 + 3; // an int64 in msgpack, a plain number in json
    assert.equal(await c.echo(big), big);
    const sums = await Promise.all(Array.from({ length: 64 }, (_, i) => c.add(i, i)));
    assert.deepEqual(
      sums,
      Array.from({ length: 64 }, (_, i) => 2 * i),
    );

    const err = await c.fail('E_PURPOSE').catch((e) => e);
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.code, 'E_PURPOSE');
    assert.equal(err.rpcCode, -32000);
    assert.equal(err.message, 'failed on purpose');
    assert.equal(err.remoteName, 'PluginError');
    assert.deepEqual(err.data, { detail: 42 });
    assert.equal(err.remoteStack, undefined);
    await stopsCleanly(client);
  });

  test(`a Python plugin calls back into the TS host during a call (${codec})`, {
    skip,
  }, async (t) => {
    const client = pythonClient(t, { codecs: [codec] });
    const c = await client.dispense(calc);
    const seen: number[] = [];
    const total = await c.count(5, async (i) => {
      seen.push(i);
      return i * 10;
    });
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    assert.equal(total, 100);
    await stopsCleanly(client);
  });

  test(`byte streams go both ways between the TS host and a Python plugin (${codec})`, {
    skip,
  }, async (t) => {
    const client = pythonClient(t, { codecs: [codec] });
    const c = await client.dispense(calc);
    // host → plugin: 3 MiB, more than a yamux window, in uneven pieces
    const data = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const pieces = [data.subarray(0, 1000), data.subarray(1000, 700_000), data.subarray(700_000)];
    // objectMode: false, or Readable.from makes an object stream (an "iter" marker)
    const got = await c.upload(Readable.from(pieces, { objectMode: false }));
    assert.deepEqual(got, {
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
    // plugin → host
    const size = 2 * 1024 * 1024 + 5;
    const stream = await c.download(size);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(pattern(size)));
    await stopsCleanly(client);
  });

  test(`object streams go both ways between the TS host and a Python plugin (${codec})`, {
    skip,
  }, async (t) => {
    const client = pythonClient(t, { codecs: [codec] });
    const c = await client.dispense(calc);
    const items: unknown[] = [];
    for await (const item of await c.items(600)) items.push(item);
    assert.equal(items.length, 600);
    assert.deepEqual(items[599], { i: 599 });
    async function* numbers() {
      for (let i = 1; i <= 500; i++) yield i;
    }
    assert.equal(await c.total(numbers()), 125_250);
    await stopsCleanly(client);
  });
}

test('a call to a Python plugin that times out cancels the handler, and the plugin carries on', {
  skip,
}, async (t) => {
  const client = pythonClient(t);
  const c = await client.dispense(calc);
  await assert.rejects(c.hang({ timeout: 50 }), TimeoutError);
  await eventually(async () => assert.equal(await c.cancelled(), 1), 5000);
  assert.equal(await c.add(2, 2), 4);
  await stopsCleanly(client);
});

test('a Python plugin gets the host config in plugwire/init, and an init error fails the start', {
  skip,
}, async (t) => {
  const client = pythonClient(t, { config: { region: 'eu' } });
  const c = await client.dispense(calc);
  assert.deepEqual(await c.config(), { region: 'eu' });

  const refused = pythonClient(t, { config: { refuse: true } });
  const err = await refused.start().catch((e) => e);
  assert.ok(err instanceof Error, String(err));
  assert.match(err.message, /refused the config/);
  await refused.kill();
  await stopsCleanly(client);
});

test('a Python plugin logs hclog JSON records that the host parses', { skip }, async (t) => {
  const records: LogRecord[] = [];
  const client = pythonClient(t, { logger: (r) => records.push(r) });
  const c = await client.dispense(calc);
  await c.log('cache nearly full');
  // A message of our own: without one, a failing assert.ok makes Node 20 parse this file's
  // source (acorn) to quote the expression, which blocks the event loop for many seconds on
  // every poll, so the record never gets a chance to arrive.
  await eventually(
    () =>
      assert.ok(
        records.some((r) => r.message === 'cache nearly full'),
        'the hclog record has not arrived yet',
      ),
    5000,
  );
  const rec = records.find((r) => r.message === 'cache nearly full')!;
  assert.equal(rec.level, 'warn');
  assert.equal(rec.structured, true);
  assert.equal(rec.module, 'calc');
  assert.equal(rec.fields.used, 97);
  await stopsCleanly(client);
});

test('a Python plugin answers quit, removes its socket directory and exits 0', {
  skip,
}, async (t) => {
  const client = pythonClient(t);
  const c = await client.dispense(calc);
  assert.equal(await c.add(1, 1), 2);
  const dir = dirname(client.handshake!.address);
  assert.ok(existsSync(dir));
  assert.deepEqual(await client.kill(), { code: 0, signal: null });
  assert.equal(existsSync(dir), false, 'socket directory left behind');
});

test('a Python plugin listens on loopback tcp when the host asks for it', { skip }, async (t) => {
  const client = pythonClient(t, { network: 'tcp' });
  const c = await client.dispense(calc);
  assert.equal(client.handshake!.network, 'tcp');
  assert.match(client.handshake!.address, /^127\.0\.0\.1:\d+$/);
  assert.equal(await c.add(20, 22), 42);
  await stopsCleanly(client);
});

/** Connects to `address`, sends 64 bytes that are not the token, and says what came back. */
async function attackerWithWrongToken(address: string): Promise<'closed' | 'answered'> {
  const i = address.lastIndexOf(':');
  const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
  try {
    await once(socket, 'connect');
    socket.write(randomBytes(32).toString('hex'));
    const answer = new Promise<'closed' | 'answered'>((resolve) => {
      socket.once('data', () => resolve('answered'));
      socket.once('close', () => resolve('closed'));
      socket.once('error', () => resolve('closed'));
    });
    return await answer;
  } finally {
    socket.destroy();
  }
}

test('tcp: an attacker that connects first with a wrong token is refused, and the TS host still gets the Python plugin', {
  skip,
}, async (t) => {
  if (found.python === undefined) throw new Error(`no Python 3.11+ (${found.missing})`);
  const token = randomBytes(32).toString('hex');
  // Started by hand so that the attacker can connect before any host does.
  const plugin = spawn(found.python, [FIXTURE], {
    stdio: ['pipe', 'pipe', 'ignore'],
    env: {
      ...process.env,
      PYTHONPATH: PYTHON_DIR,
      PYTHONDONTWRITEBYTECODE: '1',
      PLUGWIRE_MAGIC_COOKIE: 'b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41',
      PLUGWIRE_NETWORK: 'tcp',
      PLUGWIRE_AUTH_TOKEN: token,
    },
  });
  t.after(() => plugin.kill('SIGKILL'));
  const exited = once(plugin, 'exit');
  const [line] = await once(plugin.stdout!, 'data');
  const address = String(line).trim().split('|')[3]!;
  // Before the token: the attacker got the plugin (and whatever the host would send it).
  assert.equal(await attackerWithWrongToken(address), 'closed');
  assert.equal(plugin.exitCode, null, 'the plugin waits on for its host');
  const client = new PluginClient({
    plugins: { calc },
    reattach: {
      version: 1,
      pid: plugin.pid!,
      network: 'tcp',
      address,
      protocolVersion: 1,
      codec: 'msgpack',
      token,
    },
  });
  t.after(() => client.kill());
  const c = await client.dispense(calc);
  assert.equal(await c.add(2, 3), 5);
  await client.kill();
  assert.deepEqual(await exited, [0, null]);
});

test('a host that stops reading a Python stream early ends its generator (finally runs)', {
  skip,
}, async (t) => {
  const client = pythonClient(t);
  const c = await client.dispense(calc);
  const got: number[] = [];
  for await (const n of await c.forever()) {
    got.push(n);
    if (got.length === 3) break;
  }
  assert.deepEqual(got, [0, 1, 2]);
  await eventually(async () => assert.equal(await c.closed(), 1), 5000);
  const bytes = await c.forever_bytes();
  for await (const _ of bytes) break; // destroys the stream: RST to the plugin
  await eventually(async () => assert.equal(await c.closed(), 2), 5000);
  assert.equal(await c.add(1, 2), 3);
  await stopsCleanly(client);
});
