// What a sandboxed plugin may see and touch (issue #15): the host's environment, the
// network, the user it runs as, and files (Node's permission model). Each test makes the
// plugin try to get past one of them. Tests that need root skip with the reason elsewhere.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PluginClient, PluginExitedError, type RpcPeer } from '@plugwire/core';
import {
  createSandbox,
  type Sandbox,
  type SandboxEvent,
  type SandboxOptions,
  SandboxUnavailableError,
} from '@plugwire/sandbox';
import { checkLeaks, fixture, within } from './helpers.js';

const { socketDir } = checkLeaks();
const repo = fileURLToPath(new URL('..', import.meta.url));
const root = process.getuid?.() === 0;
const notRoot = !root && 'needs root';

let n = 0;
async function start(
  t: { after: (fn: () => unknown) => void },
  options: SandboxOptions,
  env?: Record<string, string>,
  dir = socketDir,
): Promise<{ client: PluginClient; peer: RpcPeer; sandbox: Sandbox }> {
  const sandbox = createSandbox(
    {
      command: process.execPath,
      args: [fixture('sandbox-plugin')],
      name: `access${n++}`,
      ...(env ? { env } : {}),
    },
    options,
  );
  const client = new PluginClient({
    ...sandbox.clientOptions(),
    plugins: { escape: {} },
    unixSocketDir: dir,
    killGrace: 200,
  });
  t.after(async () => {
    await client.kill();
    await sandbox.settled();
  });
  const peer = (await client.dispense('escape')) as RpcPeer;
  return { client, peer, sandbox };
}

function hostSecret(t: { after: (fn: () => unknown) => void }): void {
  process.env.PW_HOST_SECRET = 'hunter2';
  process.env.PW_ALLOWED = 'fine';
  t.after(() => {
    delete process.env.PW_HOST_SECRET;
    delete process.env.PW_ALLOWED;
  });
}

test('env "none" hides every host variable and keeps the declared ones', async (t) => {
  hostSecret(t);
  const { peer } = await start(t, { env: 'none' }, { DECLARED: 'yes' });
  assert.equal(await peer.request('env', ['PW_HOST_SECRET']), null);
  assert.equal(await peer.request('env', ['PATH']), null);
  assert.equal(await peer.request('env', ['DECLARED']), 'yes');
});

test('an env allowlist passes only the listed host variables', async (t) => {
  hostSecret(t);
  const { peer } = await start(t, { env: ['PW_ALLOWED'] });
  assert.equal(await peer.request('env', ['PW_HOST_SECRET']), null);
  assert.equal(await peer.request('env', ['PW_ALLOWED']), 'fine');
});

test('env "inherit" (PluginClient\'s default, as go-plugin) passes the host environment', async (t) => {
  hostSecret(t);
  const { peer } = await start(t, {});
  assert.equal(await peer.request('env', ['PW_HOST_SECRET']), 'hunter2');
});

test('a plugin without network cannot open a TCP connection to the host, and still serves', {
  skip: notRoot,
}, async (t) => {
  const server = createServer((s) => s.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((r) => server.close(r)));
  const port = (server.address() as { port: number }).port;
  const { peer } = await start(t, { network: 'none' });
  const result = await peer.request('tcp', [port]);
  assert.notEqual(result, 'connected');
  assert.match(String(result), /^E[A-Z]+$/);
  assert.equal(await peer.request('ping', []), 'pong');
});

test('the same plugin reaches the host over TCP without the network limit', async (t) => {
  const server = createServer((s) => s.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((r) => server.close(r)));
  const { peer } = await start(t, {});
  assert.equal(
    await peer.request('tcp', [(server.address() as { port: number }).port]),
    'connected',
  );
});

test('a plugin runs as the sandbox user, in a socket directory only it (and root) can use', {
  skip: notRoot,
}, async (t) => {
  // The test's socket directory is the host's (0700): the plugin user needs a base it can
  // traverse, as any base given as unixSocketDir must be.
  const { client, peer } = await start(
    t,
    { user: { uid: 65534, gid: 65534 } },
    undefined,
    tmpdir(),
  );
  assert.deepEqual(await peer.request('uid', []), [65534, 65534]);
  const hostDir = client.reattachConfig().socketDir;
  assert.ok(hostDir, 'a unix socket in a host-made directory');
  const st = statSync(hostDir);
  assert.equal(st.uid, 65534);
  assert.equal(st.mode & 0o777, 0o700);
});

test('a plugin cannot read a file outside its grant: ERR_ACCESS_DENIED', async (t) => {
  const secretDir = mkdtempSync(join(tmpdir(), 'pw-secret-'));
  t.after(() => rmSync(secretDir, { recursive: true, force: true }));
  writeFileSync(join(secretDir, 'key'), 'host secret');
  const { peer } = await start(t, { files: { read: [repo] } });
  assert.equal(await peer.request('read', [join(secretDir, 'key')]), 'error: ERR_ACCESS_DENIED');
});

test("a denied access that ends the plugin reaches the host with the plugin's name", async (t) => {
  const secretDir = mkdtempSync(join(tmpdir(), 'pw-secret-'));
  t.after(() => rmSync(secretDir, { recursive: true, force: true }));
  const events: SandboxEvent[] = [];
  const sandbox = createSandbox(
    { command: process.execPath, args: [fixture('sandbox-plugin')], name: 'nosy' },
    { files: { read: [repo] }, onEvent: (e) => events.push(e) },
  );
  const client = new PluginClient({
    ...sandbox.clientOptions(),
    plugins: { escape: {} },
    unixSocketDir: socketDir,
    killGrace: 200,
  });
  t.after(() => client.kill());
  const peer = (await client.dispense('escape')) as RpcPeer;
  const err = await within(
    peer.request('readUncaught', [join(secretDir, 'key')]).then(
      () => assert.fail('the call succeeded'),
      (e: unknown) => e,
    ),
    20_000,
    'the plugin to exit',
  );
  assert.ok(err instanceof PluginExitedError);
  assert.match(err.message, /access denied by the sandbox/);
  assert.ok(events.some((e) => e.plugin === 'nosy' && e.kind === 'access-denied'));
});

test('a limit the host cannot enforce is refused with SandboxUnavailableError, not ignored', () => {
  assert.throws(
    () => createSandbox({ command: '/bin/sh', args: ['plugin.sh'] }, { files: { read: [] } }),
    (e: unknown) =>
      e instanceof SandboxUnavailableError &&
      e.code === 'PLUGWIRE_SANDBOX_UNAVAILABLE' &&
      e.limit === 'files',
  );
});

test('another user is refused with SandboxUnavailableError when the host is not root', {
  skip: root && 'the host is root',
}, () => {
  assert.throws(
    () => createSandbox({ command: process.execPath }, { user: { uid: 65534, gid: 65534 } }),
    (e: unknown) => e instanceof SandboxUnavailableError && e.limit === 'user',
  );
});
