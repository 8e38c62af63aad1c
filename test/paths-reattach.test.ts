// Every refusal of a reattach record: a record this host cannot trust or use fails with
// ReattachError, and the process the record names is never signalled.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { PluginClient, type ReattachConfig, ReattachError } from '@plugwire/core';
import { createServerSession, type Session } from '@plugwire/mux';
import { checkLeaks, isAlive } from './helpers.js';

checkLeaks();

/** A live process the records point at; it must come through every refusal unharmed. */
async function bystander(t: TestContext): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    stdio: 'ignore',
  });
  await once(child, 'spawn');
  t.after(async () => {
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  });
  return child;
}

function record(pid: number, extra: Partial<ReattachConfig> = {}): ReattachConfig {
  return {
    version: 1,
    pid,
    network: 'unix',
    address: '/nonexistent/plugwire-reattach-test/plugin.sock',
    protocolVersion: 1,
    codec: 'msgpack',
    ...extra,
  };
}

async function refusal(t: TestContext, reattach: ReattachConfig, codecs?: string[]) {
  const c = new PluginClient({ reattach, plugins: { calc: {} }, ...(codecs ? { codecs } : {}) });
  t.after(() => c.kill());
  const err = await c.start().catch((e) => e);
  assert.ok(err instanceof ReattachError, String(err));
  assert.equal(err.code, 'PLUGWIRE_REATTACH');
  return err as ReattachError;
}

test('a reattach record of an unknown version is refused', async (t) => {
  const other = await bystander(t);
  const bad = { ...record(other.pid!), version: 2 } as unknown as ReattachConfig;
  const err = await refusal(t, bad);
  assert.match(err.message, /unknown reattach record version 2/);
  assert.ok(isAlive(other.pid!), 'the process of the record was not signalled');
});

test('a reattach record of a protocol version this host does not speak is refused', async (t) => {
  const other = await bystander(t);
  const err = await refusal(t, record(other.pid!, { protocolVersion: 7 }));
  assert.match(err.message, /protocol version 7 is not one of this host's \[1\]/);
  assert.ok(isAlive(other.pid!));
});

test('a reattach record of a codec this host does not accept is refused', async (t) => {
  const other = await bystander(t);
  const err = await refusal(t, record(other.pid!, { codec: 'json' }), ['msgpack']);
  assert.match(err.message, /codec json is not accepted by this host/);
  assert.ok(isAlive(other.pid!));
});

test('a reattach address that never answers plugwire/info is refused after the info timeout', async (t) => {
  const other = await bystander(t);
  // A hostile "plugin": speaks yamux as a plugin would, takes every stream, answers nothing.
  const dir = mkdtempSync(join(tmpdir(), 'pw-reattach-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const address = join(dir, 'mute.sock');
  const sessions: Session[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    sessions.push(createServerSession(socket, { enableKeepAlive: false }));
  });
  server.listen(address);
  await once(server, 'listening');
  t.after(async () => {
    for (const s of sessions) s.destroy();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  const err = await refusal(t, record(other.pid!, { address }));
  assert.match(err.message, /the plugin did not answer plugwire\/info/);
  assert.equal(sessions.length, 1, 'the host did connect');
  assert.ok(isAlive(other.pid!), 'the process of the record was not signalled');
});
