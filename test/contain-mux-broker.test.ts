// A plugin cannot make its host hold streams it never names (issue 13, item 3): a stream
// the plugin opens must send its 4-byte broker id within the broker timeout, and only a
// bounded number may wait for it at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PluginClient, type RpcPeer } from '@plugwire/core';
import { checkLeaks, fixture } from './helpers.js';

const { socketDir } = checkLeaks();

test('streams a plugin opens and never names are reset: at once beyond 256 waiting, the rest after the broker timeout', async (t) => {
  const client = new PluginClient({
    command: process.execPath,
    args: [fixture('hostile-mux-silent-streams')],
    plugins: { silent: {} },
    brokerTimeout: 500,
    unixSocketDir: socketDir,
  });
  t.after(() => client.kill());
  const silent = await client.dispense<RpcPeer>('silent');
  const n = 3000;
  const { reset, open } = await silent.request<{ reset: number; open: number }>(
    'open',
    [n, 15_000],
    { timeout: 30_000 },
  );
  assert.equal(open, 0, 'streams still open on the plugin side');
  assert.equal(reset, n, 'every silent stream was reset by the host');
  assert.equal(client.state, 'running');
  await client.kill();
});
