// Error paths of the plugin's listener: what the host asked for cannot be had. The plugin
// fails before its handshake, the start fails with the plugin's reason, and nothing is left
// behind (the leak check: no process, no socket directory).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { type TestContext, test } from 'node:test';
import { HandshakeError, type PluginClientOptions } from '@plugwire/core';
import { calcClient, checkLeaks } from './helpers.js';

const { socketDir } = checkLeaks();

function client(t: TestContext, extra: Partial<PluginClientOptions>) {
  const c = calcClient(socketDir, extra);
  t.after(() => c.kill());
  return c;
}

test('an unknown socket group fails the start before anything is spawned or made, naming the option', async (t) => {
  const c = client(t, { unixSocketGroup: 'plugwire-no-such-group' });
  const err = await c.start().catch((e) => e);
  assert.ok(err instanceof RangeError, String(err));
  assert.match(err.message, /^unixSocketGroup: unknown group "plugwire-no-such-group"/);
  assert.equal(c.pid, undefined, 'no process was started');
  // and the leak check after this test finds no socket directory left behind
});

test('a tcp port range with no free port fails the start with the plugin saying which range', async (t) => {
  // the one port of the range, taken
  const taken = createServer();
  taken.listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => new Promise((r) => taken.close(r)));
  const port = (taken.address() as { port: number }).port;
  const c = client(t, { network: 'tcp', minPort: port, maxPort: port });
  const err = await c.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.match(err.message, /exited before the handshake/);
  assert.ok(err.message.includes(`no free tcp port in ${port}-${port}`), err.message);
  assert.equal(c.exited, true);
});
