import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLeaks } from '../../../test/support/leaks.js';
import { MuxBroker } from '../src/broker.js';
import { BrokerError, BrokerTimeoutError, SessionClosedError } from '../src/errors.js';
import { readAll, sessionPair, whenClosed } from './helpers.js';

checkLeaks();

function brokers(timeout?: number) {
  const pair = sessionPair();
  const host = new MuxBroker(pair.client, timeout ? { timeout } : {});
  const plugin = new MuxBroker(pair.server, timeout ? { timeout } : {});
  host.run();
  plugin.run();
  return { ...pair, host, plugin };
}

test('the host mints odd ids and the plugin even ones, so they never collide', async () => {
  const { host, plugin, close } = brokers();
  assert.deepEqual([host.nextId(), host.nextId(), host.nextId()], [1, 3, 5]);
  assert.deepEqual([plugin.nextId(), plugin.nextId()], [2, 4]);
  await close();
});

test('accept(id) on one side and dial(id) on the other give a connected byte stream', async () => {
  const { host, plugin, close } = brokers();
  const id = host.nextId();
  const accepting = host.accept(id);
  const dialled = await plugin.dial(id);
  const accepted = await accepting;
  dialled.end('callback bytes');
  assert.equal((await readAll(accepted)).toString(), 'callback bytes');
  accepted.end('reply');
  assert.equal((await readAll(dialled)).toString(), 'reply');
  await close();
});

test('a dial that arrives before accept() is held until accept() is called', {
  timeout: 10_000,
}, async () => {
  const { host, plugin, close } = brokers();
  const id = plugin.nextId();
  const dialling = host.dial(id);
  // The dial has arrived and named its id; nobody has called accept() yet.
  while (plugin.heldStreams === 0) await new Promise((r) => setImmediate(r));
  const accepted = await plugin.accept(id);
  const dialled = await dialling;
  dialled.end('late');
  assert.equal((await readAll(accepted)).toString(), 'late');
  accepted.end();
  await close();
});

test('the dialler writes the id as a little-endian uint32 and the acceptor echoes it back', async () => {
  const { client, server, close } = sessionPair();
  const plugin = new MuxBroker(server);
  plugin.run();
  const accepting = plugin.accept(0x01020304);
  const raw = client.openStream();
  raw.write(Buffer.from([4, 3, 2, 1]));
  const ack = await new Promise<Buffer>((resolve) => raw.once('data', resolve));
  assert.deepEqual([...ack], [4, 3, 2, 1]);
  (await accepting).destroy();
  raw.destroy();
  await close();
});

test('accept() with no dial fails with BrokerTimeoutError after the timeout', async () => {
  const { host, close } = brokers(50);
  const err = await host.accept(host.nextId()).catch((e) => e);
  assert.ok(err instanceof BrokerTimeoutError);
  assert.equal(err.code, 'PLUGWIRE_BROKER_TIMEOUT');
  assert.match(err.message, /no dial arrived within 50 ms/);
  await close();
});

test('a dial nobody accepts is reset after the timeout and the dialler gets a clear error', async () => {
  const { host, close } = brokers(50);
  const started = Date.now();
  const err = await host.dial(42, { timeout: 5000 }).catch((e) => e);
  assert.ok(err instanceof BrokerError, String(err));
  assert.match(err.message, /broker id 42: the peer closed the stream without accepting it/);
  assert.ok(Date.now() - started < 2000);
  await close();
});

test('a dial whose ack never comes fails with BrokerTimeoutError', async () => {
  const { client, server, close } = sessionPair();
  server.on('stream', (s) => s.on('error', () => {}).resume()); // reads the id, never answers
  const host = new MuxBroker(client);
  const err = await host.dial(7, { timeout: 50 }).catch((e) => e);
  assert.ok(err instanceof BrokerTimeoutError);
  assert.match(err.message, /dial not acknowledged within 50 ms/);
  await close();
});

test('an aborted signal stops accept() and dial()', async () => {
  const { host, close } = brokers();
  const ac = new AbortController();
  const accepting = host.accept(1, { signal: ac.signal });
  ac.abort(new Error('no longer needed'));
  await assert.rejects(accepting, /no longer needed/);
  // the id is free again
  const again = host.accept(1, { timeout: 10 });
  await assert.rejects(again, BrokerTimeoutError);
  await close();
});

test('closing the session fails pending accepts and dials', async () => {
  const { host, client, close } = brokers();
  const accepting = host.accept(host.nextId());
  client.destroy();
  await assert.rejects(accepting, SessionClosedError);
  await assert.rejects(host.dial(2), SessionClosedError);
  await close();
});

test('a broker stream carries a second session of traffic both ways, many at once', async () => {
  const { host, plugin, close } = brokers();
  const ids = Array.from({ length: 20 }, () => host.nextId());
  const accepted = ids.map((id) =>
    host.accept(id).then(async (s) => {
      s.pipe(s);
      await whenClosed(s);
    }),
  );
  const replies = await Promise.all(
    ids.map(async (id) => {
      const s = await plugin.dial(id);
      s.end(`id ${id}`);
      return (await readAll(s)).toString();
    }),
  );
  assert.deepEqual(
    replies,
    ids.map((id) => `id ${id}`),
  );
  await Promise.all(accepted);
  await close();
});
