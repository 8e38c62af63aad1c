// The plugin's side of containment (issue #13, items 7 and 8): a plugin dies with its host
// even when its event loop is stuck, and in tcp mode only the host that started it (or one
// holding its reattach record) can connect.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PluginClient, type RpcPeer } from '@plugwire/core';
import { createClientSession } from '@plugwire/mux';
import { codecByName, RpcPeer as Peer } from '@plugwire/rpc';
import { calcClient, checkLeaks, eventually, fixture, isAlive } from './helpers.js';

const { socketDir } = checkLeaks();

// ---- item 7: a busy plugin dies with its host -----------------------------------------

test('a plugin stuck in a busy loop dies within 2 s of its host being SIGKILLed', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'pw-orphan-'));
  t.after(() => rmSync(base, { recursive: true, force: true })); // the dead host's socket dir
  const host = spawn(process.execPath, [fixture('orphan-host'), fixture('hostile-core-busy')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HOST_SOCKET_BASE: base },
  });
  t.after(() => host.kill('SIGKILL'));
  const [chunk] = await once(host.stdout!, 'data');
  const pluginPid = Number(String(chunk).trim());
  t.after(() => {
    if (isAlive(pluginPid)) process.kill(pluginPid, 'SIGKILL');
  });
  // The plugin spins from 100 ms after its start: wait until it has burnt 300 ms of CPU
  // more (an idle plugin burns none), so that it is stuck for sure when its host dies.
  const idle = cpuTicks(pluginPid);
  await eventually(
    () => assert.ok(cpuTicks(pluginPid) - idle >= 30, 'the plugin is not spinning yet'),
    20_000,
  );
  host.kill('SIGKILL');
  await once(host, 'exit');
  const killedAt = performance.now();
  // f98a714: the plugin never saw its stdin's EOF and spun forever.
  await eventually(() => assert.equal(isAlive(pluginPid), false, 'plugin still running'), 3_000);
  const took = performance.now() - killedAt;
  assert.ok(took < 3_000, `the plugin died ${took.toFixed(0)} ms after its host`);
});

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

// ---- item 8: tcp authenticates the host -----------------------------------------------

/** Connects as a stranger would: yamux straight away, then asks for plugwire/info. */
async function strangerAsksInfo(address: string): Promise<'answered' | 'refused'> {
  const i = address.lastIndexOf(':');
  const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
  await once(socket, 'connect');
  const session = createClientSession(socket);
  const peer = new Peer(session.openStream(), { codec: codecByName('msgpack') });
  try {
    await peer.request('plugwire/info', {}, { timeout: 5_000 });
    return 'answered';
  } catch {
    return 'refused';
  } finally {
    session.destroy();
    socket.destroy();
    await session.closed;
  }
}

test('tcp: a local client that connects first without the token is refused, and the host still gets the plugin', async (t) => {
  const token = randomBytes(32).toString('hex');
  // Started by hand so that the stranger can connect before any host does.
  const plugin = spawn(process.execPath, [fixture('calc-plugin')], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: {
      ...process.env,
      PLUGWIRE_MAGIC_COOKIE: 'b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41',
      PLUGWIRE_NETWORK: 'tcp',
      PLUGWIRE_AUTH_TOKEN: token,
    },
  });
  t.after(() => plugin.kill('SIGKILL'));
  let stderr = '';
  plugin.stderr!.on('data', (c) => {
    stderr += String(c);
  });
  // A plugin that dies before its line must fail the test with its stderr, not leave an
  // await with nothing to wake it.
  const [line] = await Promise.race([
    once(plugin.stdout!, 'data'),
    once(plugin, 'exit').then(([code, signal]) => {
      throw new Error(`the plugin exited (${code ?? signal}) before its handshake:\n${stderr}`);
    }),
  ]);
  const address = String(line).trim().split('|')[3]!;
  // f98a714: the stranger got the plugin (and with it, whatever the host would send).
  assert.equal(await strangerAsksInfo(address), 'refused');
  assert.ok(isAlive(plugin.pid!), 'the plugin waits on for its host');
  const client = new PluginClient({
    plugins: { calc: {} },
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
  // Listened for before kill(): kill() waits for the pid to die, so the child's 'exit'
  // event can fire before kill() returns, and a later once() would wait forever.
  const exited = once(plugin, 'exit');
  const calc = await client.dispense<RpcPeer>('calc');
  assert.equal(await calc.request('add', [2, 3]), 5);
  await client.kill();
  await exited;
});

test('tcp: after a reattachable plugin’s host detaches, a client without the token is refused', async (t) => {
  const first = calcClient(socketDir, { network: 'tcp', reattachable: true });
  t.after(() => first.kill());
  await first.start();
  const record = first.reattachConfig();
  assert.match(record.token ?? '', /^[0-9a-f]{64}$/, 'the record carries the token');
  await first.detach();
  // f98a714: anyone could connect to the orphaned plugin.
  assert.equal(await strangerAsksInfo(record.address), 'refused');
  const second = new PluginClient({ plugins: { calc: {} }, reattach: record });
  t.after(() => second.kill());
  const calc = await second.dispense<RpcPeer>('calc');
  assert.equal(await calc.request('add', [4, 5]), 9);
  await second.kill();
});

test('tcp: a host started with insecureTcp lets any local client connect (the documented opt-out)', async (t) => {
  const client = calcClient(socketDir, { network: 'tcp', insecureTcp: true, reattachable: true });
  t.after(() => client.kill());
  await client.start();
  const record = client.reattachConfig();
  assert.equal(record.token, undefined);
  await client.detach();
  assert.equal(await strangerAsksInfo(record.address), 'answered');
  const again = new PluginClient({ plugins: { calc: {} }, reattach: record });
  t.after(() => again.kill());
  await again.start();
  await again.kill();
});
