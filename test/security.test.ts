// Trust features, end to end: checksum, TLS and AutoMTLS, socket permissions, reattach,
// skipHostEnv.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import {
  ChecksumMismatchError,
  ClientStateError,
  HandshakeError,
  PluginClient,
  type PluginClientOptions,
  type ReattachConfig,
  ReattachError,
  type RpcPeer,
} from '@plugwire/core';
import selfsigned from 'selfsigned';
import {
  checkLeaks,
  eventually,
  fixture,
  isAlive,
  calcClient as newCalcClient,
  within,
} from './helpers.js';

const { socketDir } = checkLeaks();

const calcClient = (extra: Partial<PluginClientOptions> = {}) => newCalcClient(socketDir, extra);

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('a plugin whose entry file has the expected sha256 starts', async () => {
  const client = calcClient({ checksum: { hash: sha256(fixture('calc-plugin')) } });
  const calc = await client.dispense<RpcPeer>('calc');
  assert.equal(await calc.request('add', [1, 2]), 3);
  await client.kill();
});

test('a wrong checksum throws ChecksumMismatchError and the process is never started', async () => {
  const client = calcClient({ checksum: { hash: 'ab'.repeat(32) } });
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof ChecksumMismatchError);
  assert.equal(err.code, 'PLUGWIRE_CHECKSUM_MISMATCH');
  assert.equal(err.actual, sha256(fixture('calc-plugin')));
  assert.match(
    err.message,
    /calc-plugin\.js has sha256 [0-9a-f]{64}, expected (ab){32}: the plugin was not started/,
  );
  assert.equal(client.pid, undefined, 'no process was spawned');
});

test('a checksum of the wrong length is a mismatch, not a crash', async () => {
  const client = calcClient({ checksum: { hash: 'abc' } });
  await assert.rejects(client.start(), ChecksumMismatchError);
});

test('AutoMTLS: the plugin answers with its certificate and the session runs over TLS', async () => {
  const client = calcClient({ autoMTLS: true });
  const calc = await client.dispense<RpcPeer>('calc');
  assert.equal(await calc.request('add', [20, 22]), 42);
  const cert = client.handshake?.cert;
  assert.ok(cert && cert.length > 100, 'the 6th handshake field carries the certificate');
  assert.equal(Buffer.from(cert, 'base64')[0], 0x30, 'DER starts with a SEQUENCE');
  await client.kill();
});

test('AutoMTLS: a client without the host certificate is refused, the host goes on', async () => {
  const client = calcClient({ autoMTLS: true });
  const calc = await client.dispense<RpcPeer>('calc');
  const address = client.handshake!.address;
  // a foreign client with a certificate of its own
  const foreign = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
  } as Parameters<typeof selfsigned.generate>[1]);
  const sock = tlsConnect({
    path: address,
    cert: foreign.cert,
    key: foreign.private,
    rejectUnauthorized: false,
  });
  const outcome = await within(
    new Promise<string>((resolve) => {
      sock.once('error', (e) => resolve(`error: ${e.message}`));
      sock.once('close', () => resolve('closed'));
      sock.once('data', () => resolve('got data'));
    }),
    15_000, // the plugin gives a TLS handshake 10 s
    'the plugin to end the foreign TLS connection',
  );
  sock.destroy();
  assert.notEqual(outcome, 'got data');
  // a plain client that does not speak TLS at all
  const plain = connect({ path: address });
  plain.on('error', () => {});
  plain.write(Buffer.from([0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
  await within(
    new Promise((resolve) => plain.once('close', resolve)),
    15_000,
    'the plugin to drop a client that does not speak TLS',
  );
  assert.equal(await calc.request('add', [1, 1]), 2, 'the real host still works');
  await client.kill();
});

test('TLS with user certificates: a host that does not trust the plugin fails the start clearly', async () => {
  const server = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
  } as Parameters<typeof selfsigned.generate>[1]);
  const other = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
  } as Parameters<typeof selfsigned.generate>[1]);
  const env = { FIXTURE_TLS_CERT: server.cert, FIXTURE_TLS_KEY: server.private };
  const trusting = calcClient({ env, tls: { ca: [server.cert], servername: 'localhost' } });
  assert.equal(await (await trusting.dispense<RpcPeer>('calc')).request('add', [2, 3]), 5);
  await trusting.kill();
  const distrusting = calcClient({ env, tls: { ca: [other.cert], servername: 'localhost' } });
  const err = await distrusting.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.equal(err.code, 'PLUGWIRE_TLS');
  assert.match(err.message, /the TLS handshake with the plugin failed/);
  assert.equal(distrusting.exited, true);
});

function asNobody(script: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['-e', script, ...args], {
    uid: 65534,
    gid: 65534,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out })));
}

const PROBE = `
const s = require('node:net').connect({ path: process.argv[1] });
s.on('connect', () => { console.log('connected'); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(1); });
`;

const isRoot = process.getuid?.() === 0;

test('another user cannot connect to the plugin socket (dir 0700, socket 0600)', {
  skip: !isRoot && 'needs root to run a probe as nobody',
}, async (t) => {
  // a base every user may traverse, so that only plugwire's own modes protect the socket
  const base = mkdtempSync(join(tmpdir(), 'pw-perm-'));
  chmodSync(base, 0o755);
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const client = calcClient({ unixSocketDir: base });
  t.after(() => client.kill());
  await client.start();
  const probe = await asNobody(PROBE, [client.handshake!.address]);
  assert.equal(probe.out.trim(), 'EACCES');
  assert.equal(probe.code, 1);
});

test('with a socket group, members of that group can connect', {
  skip: !isRoot && 'needs root to run a probe as nobody',
}, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'pw-perm-'));
  chmodSync(base, 0o755);
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const client = calcClient({ unixSocketDir: base, unixSocketGroup: '65534' });
  t.after(() => client.kill());
  await client.start();
  const probe = await asNobody(PROBE, [client.handshake!.address]);
  assert.equal(probe.out.trim(), 'connected');
});

test('skipHostEnv starts the plugin with only the given variables', async () => {
  process.env.PW_HOST_ONLY = 'secret';
  try {
    const inherit = calcClient();
    assert.equal(
      await (await inherit.dispense<RpcPeer>('calc')).request('env', ['PW_HOST_ONLY']),
      'secret',
    );
    await inherit.kill();
    const bare = calcClient({ skipHostEnv: true, env: { GIVEN: 'yes' } });
    const calc = await bare.dispense<RpcPeer>('calc');
    assert.equal(await calc.request('env', ['PW_HOST_ONLY']), null);
    assert.equal(await calc.request('env', ['GIVEN']), 'yes');
    await bare.kill();
  } finally {
    delete process.env.PW_HOST_ONLY;
  }
});

async function hostA(mode: 'detach' | 'wait', env: Record<string, string> = {}) {
  const host = spawn(process.execPath, [fixture('reattach-host'), fixture('calc-plugin'), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PLUGIN_UNIX_SOCKET_DIR: socketDir, ...env },
  });
  const [chunk] = await once(host.stdout!, 'data');
  return { host, record: JSON.parse(String(chunk)) as ReattachConfig };
}

for (const tls of [false, true]) {
  test(`reattach across host processes${tls ? ' with AutoMTLS' : ''}: A starts and exits, B reattaches, calls, kills`, async () => {
    const { host, record } = await hostA('detach', tls ? { FIXTURE_AUTOMTLS: '1' } : {});
    const [code] = await once(host, 'exit');
    assert.equal(code, 0, 'host A exited normally');
    assert.ok(isAlive(record.pid), 'the plugin outlived host A');
    assert.equal(!!record.cert, tls);
    const b = new PluginClient({ reattach: record, plugins: { calc: {} } });
    const calc = await b.dispense<RpcPeer>('calc');
    assert.equal(await calc.request('add', [3, 4]), 7);
    assert.equal(await calc.request('pid', []), record.pid);
    assert.equal(b.pid, record.pid);
    await b.kill();
    await eventually(() => assert.equal(isAlive(record.pid), false));
    assert.equal(existsSync(dirname(record.address)), false, 'socket dir removed');
  });
}

test('a reattachable plugin keeps running when its host is SIGKILLed', async () => {
  const { host, record } = await hostA('wait');
  host.kill('SIGKILL');
  await once(host, 'exit');
  const b = new PluginClient({ reattach: record, plugins: { calc: {} } });
  assert.equal(await (await b.dispense<RpcPeer>('calc')).request('add', [1, 1]), 2);
  await b.kill();
  await eventually(() => assert.equal(isAlive(record.pid), false));
});

test('reattaching to a dead pid fails with ReattachError', async () => {
  const { host, record } = await hostA('detach');
  await once(host, 'exit');
  const first = new PluginClient({ reattach: record, plugins: { calc: {} } });
  await first.kill(); // before start: only marks it unusable
  assert.ok(isAlive(record.pid), 'kill() before start() did not signal the plugin');
  const unusable = await first.start().catch((e) => e);
  assert.ok(unusable instanceof ClientStateError, String(unusable));
  assert.equal(unusable.code, 'PLUGWIRE_CLIENT_STATE');
  const owner = new PluginClient({ reattach: record, plugins: { calc: {} } });
  await owner.start();
  await owner.kill();
  await eventually(() => assert.equal(isAlive(record.pid), false));
  const late = new PluginClient({ reattach: record, plugins: { calc: {} } });
  const err = await late.start().catch((e) => e);
  assert.ok(err instanceof ReattachError);
  assert.equal(err.code, 'PLUGWIRE_REATTACH');
  assert.match(err.message, /no such process/);
});

test('a reused pid is never signalled: reattach fails and the other process lives on', async () => {
  const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    stdio: 'ignore',
  });
  await once(bystander, 'spawn');
  try {
    // (1) a record whose plugin is gone, its pid now someone else's
    const { host, record } = await hostA('detach');
    await once(host, 'exit');
    const owner = new PluginClient({ reattach: record, plugins: { calc: {} } });
    await owner.start();
    await owner.kill();
    const stale = { ...record, pid: bystander.pid! };
    const c1 = new PluginClient({ reattach: stale, plugins: { calc: {} }, startTimeout: 2_000 });
    assert.ok((await c1.start().catch((e) => e)) instanceof ReattachError);
    await c1.kill();
    // (2) a live plugin at the address, but the record names another pid
    const live = await hostA('detach');
    await once(live.host, 'exit');
    const c2 = new PluginClient({
      reattach: { ...live.record, pid: bystander.pid! },
      plugins: { calc: {} },
    });
    const err = await c2.start().catch((e) => e);
    assert.ok(err instanceof ReattachError);
    assert.match(err.message, new RegExp(`served by pid ${live.record.pid}: the record is stale`));
    await c2.kill();
    assert.ok(isAlive(bystander.pid!), 'the bystander was not touched');
    const cleanup = new PluginClient({ reattach: live.record, plugins: { calc: {} } });
    await cleanup.start();
    await cleanup.kill();
    await eventually(() => assert.equal(isAlive(live.record.pid), false));
  } finally {
    bystander.kill('SIGKILL');
    await once(bystander, 'exit');
  }
});
