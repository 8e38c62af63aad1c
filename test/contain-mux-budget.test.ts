// A plugin cannot make its host hold more than the connection's receive budget in partly
// received RPC messages (issue 13, item 5), however many streams it starts them on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PluginClient, type RpcPeer } from '@plugwire/core';
import { checkLeaks, eventually, fixture } from './helpers.js';

const { socketDir } = checkLeaks();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;

/** ArrayBuffer memory of this process that is still reachable. */
function arrayBuffers(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

test('twelve streams of partial 4 MiB messages hold no more than the host budget of 2 × maxMessageSize', async (t) => {
  const streams = 12;
  const maxMessageSize = 4 * MiB;
  const client = new PluginClient({
    command: process.execPath,
    args: [fixture('hostile-mux-partial-frames')],
    env: {
      FIXTURE_ANNOUNCE: String(maxMessageSize),
      FIXTURE_SEND: String(3 * MiB),
      FIXTURE_PLUGINS: String(streams),
    },
    plugins: Object.fromEntries(Array.from({ length: streams }, (_, i) => [`p${i}`, {}])),
    maxMessageSize,
    unixSocketDir: socketDir,
  });
  t.after(() => client.kill());
  await client.start();
  const before = arrayBuffers();
  const peers = await Promise.all(
    Array.from({ length: streams }, (_, i) => client.dispense<RpcPeer>(`p${i}`)),
  );
  const reasons: Error[] = [];
  for (const peer of peers) {
    peer.once('close', (reason?: Error) => {
      if (reason) reasons.push(reason);
    });
  }
  // 3 MiB each: two fit in the 8 MiB budget, the other ten are closed when theirs arrive.
  await eventually(() => assert.equal(reasons.length, streams - 2), 10_000);
  for (const r of reasons)
    assert.equal((r as { code?: string }).code, 'PLUGWIRE_RPC_RECEIVE_BUDGET');
  // Freed buffers leave the count when V8's sweeper gets to them, later on a busy machine:
  // what must hold is that the host settles under the bound (on f98a714 it held 36 MiB).
  await eventually(() => {
    const grown = (arrayBuffers() - before) / MiB;
    assert.ok(grown < 12, `the host holds ${grown.toFixed(1)} MiB more (budget 8 MiB)`);
  }, 5000);
  // The connection itself is fine: the two peers within the budget are still open.
  assert.equal(peers.filter((p) => !p.closed).length, 2);
  assert.equal(client.state, 'running');
  await client.kill();
});
