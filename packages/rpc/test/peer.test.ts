import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { jsonCodec } from '../src/codecs/json.js';
import { msgpackCodec } from '../src/codecs/msgpack.js';
import { ErrorCodes, ProtocolError, RpcError } from '../src/errors.js';
import { RpcPeer } from '../src/peer.js';
import {
  assertNoLeaks,
  closeAll,
  duplexPair,
  peerAndRaw,
  peerPair,
  socketPair,
} from './helpers.js';

after(assertNoLeaks);

for (const codec of [msgpackCodec, jsonCodec]) {
  test(`a request resolves with the handler's result (${codec.name})`, async () => {
    const [a, b] = peerPair({ codec });
    b.handle('add', ([x, y]: [number, number]) => x + y);
    assert.equal(await a.request('add', [1, 2]), 3);
    await closeAll(a, b);
  });

  test(`binary params and results round-trip as Buffers (${codec.name})`, async () => {
    const [a, b] = peerPair({ codec });
    b.handle('echo', (params: unknown) => params);
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    const back = (await a.request('echo', { bytes, list: [new Uint8Array([9])] })) as {
      bytes: Buffer;
      list: Buffer[];
    };
    assert.ok(Buffer.isBuffer(back.bytes));
    assert.deepEqual(back, { bytes, list: [Buffer.from([9])] });
    await closeAll(a, b);
  });
}

test('both ends call and serve on the same connection (a callback during a request)', async () => {
  const [host, plugin] = peerPair();
  host.handle('host.log', ([line]: [string]) => `logged ${line}`);
  plugin.handle('work', async (_params, ctx) => {
    const ack = await ctx.peer.request('host.log', ['working']);
    return { ack };
  });
  assert.deepEqual(await host.request('work'), { ack: 'logged working' });
  await closeAll(host, plugin);
});

test('a handler may be async', async () => {
  const [a, b] = peerPair();
  b.handle('later', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return 'done';
  });
  assert.equal(await a.request('later'), 'done');
  await closeAll(a, b);
});

test('a handler that returns undefined answers with result null', async () => {
  const [peer, raw] = peerAndRaw();
  peer.handle('nothing', () => undefined);
  raw.send({ jsonrpc: '2.0', id: 1, method: 'nothing' });
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', id: 1, result: null });
  raw.stream.end();
  await closeAll(peer);
});

test('many requests in flight are each answered with their own result', async () => {
  const [a, b] = peerPair();
  b.handle('double', async ([n]: [number]) => {
    if (n % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
    return n * 2;
  });
  const results = await Promise.all(
    Array.from({ length: 500 }, (_, n) => a.request('double', [n])),
  );
  assert.deepEqual(
    results,
    Array.from({ length: 500 }, (_, n) => n * 2),
  );
  await closeAll(a, b);
});

test('a notification calls the handler and is never answered', async () => {
  const [peer, raw] = peerAndRaw();
  const seen: unknown[] = [];
  peer.handle('event', (params: unknown) => {
    seen.push(params);
    return 'ignored';
  });
  peer.handle('ping', () => 'pong');
  raw.send({ jsonrpc: '2.0', method: 'event', params: { n: 1 } });
  raw.send({ jsonrpc: '2.0', id: 'p', method: 'ping' });
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', id: 'p', result: 'pong' });
  assert.deepEqual(seen, [{ n: 1 }]);
  raw.stream.end();
  await closeAll(peer);
});

test('notify() sends a notification the remote handler receives', async () => {
  const [a, b] = peerPair();
  const received = new Promise((resolve) => b.handle('event', resolve));
  a.notify('event', ['hello']);
  assert.deepEqual(await received, ['hello']);
  await closeAll(a, b);
});

test('string and number ids are answered with the same id, of the same type', async () => {
  const [peer, raw] = peerAndRaw();
  peer.handle('id', (_params, ctx) => ctx.id);
  raw.send({ jsonrpc: '2.0', id: '7', method: 'id' });
  raw.send({ jsonrpc: '2.0', id: 7, method: 'id' });
  raw.send({ jsonrpc: '2.0', id: null, method: 'id' });
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', id: '7', result: '7' });
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', id: 7, result: 7 });
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', id: null, result: null });
  raw.stream.end();
  await closeAll(peer);
});

test('an unknown method is answered with Method not found, naming the method in data', async () => {
  const [a, b] = peerPair();
  await assert.rejects(a.request('nope'), (err: unknown) => {
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, ErrorCodes.MethodNotFound);
    assert.equal(err.message, 'Method not found');
    assert.deepEqual(err.data, { method: 'nope' });
    return true;
  });
  await closeAll(a, b);
});

test('a fallback handler serves methods that have no handler of their own', async () => {
  const [a, b] = peerPair();
  b.handle('exact', () => 'exact');
  b.handleFallback((method, params) => ({ method, params }));
  assert.equal(await a.request('exact'), 'exact');
  assert.deepEqual(await a.request('kv.get', ['k']), { method: 'kv.get', params: ['k'] });
  await closeAll(a, b);
});

test('the function handle() returns unregisters the handler', async () => {
  const [a, b] = peerPair();
  const off = b.handle('m', () => 1);
  assert.equal(await a.request('m'), 1);
  off();
  await assert.rejects(a.request('m'), { code: ErrorCodes.MethodNotFound });
  b.handle('m', () => 2);
  off(); // a stale unregister does not remove the new handler
  assert.equal(await a.request('m'), 2);
  await closeAll(a, b);
});

test('registering a second handler for a method throws', async () => {
  const [a, b] = peerPair();
  b.handle('m', () => 1);
  assert.throws(() => b.handle('m', () => 2), /already registered/);
  assert.throws(() => b.handle('$/cancelRequest', () => 2), /handled by the peer/);
  await closeAll(a, b);
});

test('a handler that throws produces an ApplicationError response and the peer keeps serving', async () => {
  const [a, b] = peerPair();
  class StorageError extends Error {
    code = 'ENOSPC';
    data = { free: 0 };
  }
  b.handle('fail', () => {
    throw new StorageError('disk full');
  });
  b.handle('ok', () => 'still here');
  await assert.rejects(a.request('fail'), (err: unknown) => {
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, ErrorCodes.ApplicationError);
    assert.equal(err.message, 'disk full');
    assert.deepEqual(err.data, { name: 'Error', code: 'ENOSPC', data: { free: 0 } });
    return true;
  });
  assert.equal(await a.request('ok'), 'still here');
  await closeAll(a, b);
});

test('a handler that rejects, or throws a non-Error, produces an error response', async () => {
  const [a, b] = peerPair();
  b.handle('rejects', async () => {
    throw new TypeError('bad type');
  });
  b.handle('string', () => {
    throw 'just a string';
  });
  await assert.rejects(a.request('rejects'), {
    code: ErrorCodes.ApplicationError,
    message: 'bad type',
    data: { name: 'TypeError' },
  });
  await assert.rejects(a.request('string'), {
    code: ErrorCodes.ApplicationError,
    message: 'just a string',
  });
  await closeAll(a, b);
});

test('a handler throws an RpcError to choose the error response', async () => {
  const [a, b] = peerPair();
  b.handle('validate', () => {
    throw new RpcError(ErrorCodes.InvalidParams, 'x must be a number', { field: 'x' });
  });
  await assert.rejects(a.request('validate', { x: 'no' }), {
    name: 'RpcError',
    code: -32602,
    message: 'x must be a number',
    data: { field: 'x' },
  });
  await closeAll(a, b);
});

test('handler stacks are sent only with exposeStack', async () => {
  for (const exposeStack of [false, true]) {
    const [a, b] = peerPair({}, { exposeStack });
    b.handle('fail', () => {
      throw new Error('boom');
    });
    const err = await a.request('fail').catch((e: RpcError) => e);
    const stack = (err as RpcError & { data: { stack?: string } }).data.stack;
    if (exposeStack) assert.match(stack ?? '', /boom/);
    else assert.equal(stack, undefined);
    await closeAll(a, b);
  }
});

test('a result the codec cannot encode is answered with Internal error', async () => {
  const [a, b] = peerPair({ codec: jsonCodec });
  b.handle('big', () => 2n ** 70n);
  await assert.rejects(a.request('big'), { code: ErrorCodes.InternalError });
  await closeAll(a, b);
});

test('params that cannot be encoded reject the request, and nothing is sent', async () => {
  const [a, b] = peerPair({ codec: jsonCodec });
  let called = false;
  b.handle('m', () => {
    called = true;
  });
  await assert.rejects(a.request('m', { n: 1n }), { code: 'PLUGWIRE_RPC_CODEC' });
  assert.equal(a.pendingRequests, 0);
  assert.equal(called, false);
  await closeAll(a, b);
});

test('params must be an array or an object', async () => {
  const [a, b] = peerPair();
  await assert.rejects(a.request('m', 5), TypeError);
  await assert.rejects(a.request('m', null), TypeError);
  assert.throws(() => a.notify('m', 'x'), TypeError);
  await closeAll(a, b);
});

test('a response for an unknown id is ignored', async () => {
  const [peer, raw] = peerAndRaw();
  peer.handle('ping', () => 'pong');
  raw.send({ jsonrpc: '2.0', id: 999, result: 'nobody asked' });
  raw.send({ jsonrpc: '2.0', id: 'x', error: { code: 1, message: 'nobody asked' } });
  raw.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', id: 1, result: 'pong' });
  assert.equal(peer.closed, false);
  raw.stream.end();
  await closeAll(peer);
});

test('a malformed response to a pending request rejects it with ProtocolError', async () => {
  const [peer, raw] = peerAndRaw();
  const call = peer.request('m');
  const request = (await raw.next()) as { id: number };
  raw.send({ jsonrpc: '2.0', id: request.id, error: { code: 'not a number', message: 'x' } });
  await assert.rejects(call, (err: unknown) => err instanceof ProtocolError);
  raw.stream.end();
  await closeAll(peer);
});

test('a response to a request is matched even when it arrives in a batch', async () => {
  const [peer, raw] = peerAndRaw();
  const first = peer.request('a');
  const second = peer.request('b');
  const r1 = (await raw.next()) as { id: number };
  const r2 = (await raw.next()) as { id: number };
  raw.send([
    { jsonrpc: '2.0', id: r2.id, result: 'b' },
    { jsonrpc: '2.0', id: r1.id, result: 'a' },
  ]);
  assert.deepEqual(await Promise.all([first, second]), ['a', 'b']);
  raw.stream.end();
  await closeAll(peer);
});

test('a batch with an async request is answered once all its requests are done', async () => {
  const [peer, raw] = peerAndRaw();
  peer.handle('slow', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return 'slow';
  });
  peer.handle('fast', () => 'fast');
  raw.send([
    { jsonrpc: '2.0', id: 1, method: 'slow' },
    { jsonrpc: '2.0', id: 2, method: 'fast' },
  ]);
  const batch = (await raw.next()) as { id: number; result: string }[];
  assert.deepEqual(batch.map((r) => r.result).sort(), ['fast', 'slow']);
  raw.stream.end();
  await closeAll(peer);
});

test('an outgoing message over maxMessageSize rejects, nothing is sent, the connection stays open', async () => {
  const [a, b] = peerPair({ maxMessageSize: 1024 });
  b.handle('echo', (p: unknown) => p);
  await assert.rejects(a.request('echo', [Buffer.alloc(2000)]), {
    code: 'PLUGWIRE_RPC_MESSAGE_TOO_LARGE',
    limit: 1024,
  });
  assert.deepEqual(await a.request('echo', ['small']), ['small']);
  await closeAll(a, b);
});

test('a response over maxMessageSize is replaced by a MessageTooLarge error response', async () => {
  const [a, b] = peerPair({ maxMessageSize: 1024 });
  b.handle('big', () => Buffer.alloc(5000));
  await assert.rejects(a.request('big'), { code: ErrorCodes.MessageTooLarge });
  assert.equal(a.closed, false);
  await closeAll(a, b);
});

test('the peer works over a unix socket', async () => {
  const { a: sa, b: sb, cleanup } = await socketPair();
  const a = new RpcPeer(sa);
  const b = new RpcPeer(sb);
  b.handle('echo', (p: unknown) => p);
  const big = Buffer.alloc(3 * 1024 * 1024, 7);
  const [small, back] = await Promise.all([
    a.request('echo', ['hi']),
    a.request<[Buffer]>('echo', [big]),
  ]);
  assert.deepEqual(small, ['hi']);
  assert.ok(back[0].equals(big));
  const closed = once(b, 'close');
  await a.close();
  await closed;
  await cleanup();
});

test('every message goes out whole in one stream write, and the messages of a tick share it', async () => {
  const [sa, sb] = duplexPair();
  const writes: Buffer[] = [];
  const write = sa.write.bind(sa);
  sa.write = ((chunk: Buffer, ...rest: never[]) => {
    writes.push(Buffer.from(chunk));
    return write(chunk, ...rest);
  }) as typeof sa.write;
  const a = new RpcPeer(sa);
  const b = new RpcPeer(sb);
  b.handle('n', ([n]: [number]) => n);
  await Promise.all(Array.from({ length: 100 }, (_, n) => a.request('n', [n])));
  assert.equal(writes.length, 1);
  await a.request('n', [Buffer.alloc(1024 * 1024)]);
  assert.equal(writes.length, 2);
  assert.equal(writes[1]!.readUInt32BE(0), writes[1]!.length - 4);
  await closeAll(a, b);
});

test('request ids wrap around below 2^31 and skip ids still pending', async () => {
  const [peer, raw] = peerAndRaw();
  (peer as unknown as { pending: { lastId: number } }).pending.lastId = 2 ** 31 - 2;
  const calls = [peer.request('m'), peer.request('m'), peer.request('m')];
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(((await raw.next()) as { id: number }).id);
  assert.deepEqual(ids, [2 ** 31 - 1, 1, 2]);
  for (const id of ids) raw.send({ jsonrpc: '2.0', id, result: id });
  assert.deepEqual(await Promise.all(calls), ids);
  raw.stream.end();
  await closeAll(peer);
});

test('invalid options are rejected when the peer is created', () => {
  const [sa, sb] = duplexPair();
  assert.throws(() => new RpcPeer(sa, { maxMessageSize: 0 }), RangeError);
  assert.throws(() => new RpcPeer(sa, { maxMessageSize: 2 ** 32 }), RangeError);
  assert.throws(() => new RpcPeer(sa, { maxMessageSize: 1.5 }), RangeError);
  assert.throws(() => new RpcPeer(sa, { codec: {} as never }), TypeError);
  sa.destroy();
  sb.destroy();
});

test('a handler whose result or error throws when read still gets an error response', async () => {
  const [a, b] = peerPair();
  b.handle('bad-then', () => ({
    // biome-ignore lint/suspicious/noThenProperty: a thenable that throws is what is tested
    get then() {
      throw new Error('then getter');
    },
  }));
  b.handle('bad-error', () => {
    throw {
      get message() {
        throw new Error('message getter');
      },
    };
  });
  b.handle('bad-json', () => ({
    toJSON() {
      throw new Error('toJSON');
    },
  }));
  await assert.rejects(a.request('bad-then'), { code: ErrorCodes.ApplicationError });
  await assert.rejects(a.request('bad-error'), { code: ErrorCodes.ApplicationError });
  await assert.rejects(a.request('bad-json'), { code: ErrorCodes.InternalError });
  assert.equal(b.closed, false);
  await closeAll(a, b);
});

test('flush() hands the messages written so far to the stream at once, not at the end of the tick', async () => {
  const [a, b] = duplexPair();
  const peer = new RpcPeer(a, { codec: jsonCodec });
  const written: Buffer[] = [];
  const origWrite = a.write.bind(a);
  a.write = ((chunk: Buffer, ...rest: unknown[]) => {
    written.push(chunk);
    return (origWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof a.write;
  peer.notify('one', []);
  peer.notify('two', []);
  assert.equal(written.length, 0, 'gathered until the end of the tick');
  peer.flush();
  assert.equal(written.length, 1, 'both messages in one write');
  assert.match(written[0]!.toString(), /"one".*"two"/s);
  await peer.close();
  b.destroy();
});
