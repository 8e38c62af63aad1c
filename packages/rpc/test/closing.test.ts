import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import {
  ConnectionClosedError,
  ErrorCodes,
  MessageTooLargeError,
  ProtocolError,
  RpcError,
} from '../src/errors.js';
import { encodeFrame } from '../src/framing.js';
import { RpcPeer } from '../src/peer.js';
import { assertNoLeaks, closeAll, duplexPair, peerAndRaw, peerPair } from './helpers.js';

after(assertNoLeaks);

/** Requests that will never be answered (the remote has no handler that returns). */
function hang(peer: RpcPeer, n: number): Promise<unknown>[] {
  return Array.from({ length: n }, () => peer.request('hang').catch((e: unknown) => e));
}

test('close() rejects every pending request at once with ConnectionClosedError', async () => {
  const [a, b] = peerPair();
  b.handle('hang', () => new Promise(() => {}));
  const calls = hang(a, 5);
  const closed = once(a, 'close');
  await a.close();
  const errors = await Promise.all(calls);
  for (const err of errors) {
    assert.ok(err instanceof ConnectionClosedError);
    assert.equal(err.code, 'PLUGWIRE_RPC_CONNECTION_CLOSED');
  }
  assert.deepEqual(await closed, [undefined]);
  assert.equal(a.pendingRequests, 0);
  await closeAll(b);
});

test('close() ends the stream after the messages already sent, and the remote closes too', async () => {
  const [a, b] = peerPair();
  const received = new Promise((resolve) => b.handle('last', resolve));
  a.notify('last', ['words']);
  const remoteClosed = once(b, 'close');
  await a.close();
  assert.deepEqual(await received, ['words']);
  assert.deepEqual(await remoteClosed, [undefined]);
  assert.equal(b.closed, true);
});

test('losing the stream rejects pending requests with ConnectionClosedError carrying the cause', async () => {
  const [sa, sb] = duplexPair();
  const a = new RpcPeer(sa);
  const b = new RpcPeer(sb);
  b.handle('hang', () => new Promise(() => {}));
  const calls = hang(a, 3);
  const cause = new Error('socket reset');
  const closed = once(a, 'close');
  sa.destroy(cause);
  for (const err of await Promise.all(calls)) {
    assert.ok(err instanceof ConnectionClosedError);
    assert.equal((err as Error).cause, cause);
  }
  assert.deepEqual(await closed, [cause]);
  assert.equal(a.closeReason, cause);
  await closeAll(b);
});

test('the peer never emits error: a stream error closes it instead', async () => {
  const [sa, sb] = duplexPair();
  const a = new RpcPeer(sa);
  const b = new RpcPeer(sb);
  assert.equal(a.listenerCount('error'), 0);
  const closed = once(a, 'close');
  sa.emit('error', new Error('EPIPE'));
  const [reason] = (await closed) as [Error];
  assert.equal(reason.message, 'EPIPE');
  await closeAll(b);
});

test('requests after close reject with ConnectionClosedError; notifications are dropped', async () => {
  const [a, b] = peerPair();
  await closeAll(a, b);
  await assert.rejects(a.request('m'), ConnectionClosedError);
  a.notify('m'); // no throw
  assert.equal(a.closed, true);
});

test("'close' is emitted once, whatever closes the peer how often", async () => {
  const [a, b] = peerPair();
  let count = 0;
  a.on('close', () => count++);
  const closing = a.close();
  a.destroy();
  await a.close();
  await closing;
  await closeAll(b);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(count, 1);
});

test('destroy(err) closes at once with err as the reason', async () => {
  const [a, b] = peerPair();
  b.handle('hang', () => new Promise(() => {}));
  const calls = hang(a, 2);
  const reason = new Error('plugin misbehaved');
  const closed = once(a, 'close');
  a.destroy(reason);
  for (const err of await Promise.all(calls)) assert.equal((err as Error).cause, reason);
  assert.deepEqual(await closed, [reason]);
  assert.equal(a.stream.destroyed, true);
  await closeAll(b);
});

test('connectionLost decides what pending requests reject with when the connection is lost', async () => {
  const [sa, sb] = duplexPair();
  class PluginExitedError extends Error {}
  const a = new RpcPeer(sa, {
    connectionLost: async (err) => new PluginExitedError(`exited (${err.message})`),
  });
  const b = new RpcPeer(sb);
  b.handle('hang', () => new Promise(() => {}));
  const calls = hang(a, 2);
  b.destroy();
  for (const err of await Promise.all(calls)) assert.ok(err instanceof PluginExitedError);
  await assert.rejects(a.request('later'), PluginExitedError);
  await closeAll(a);
});

test('connectionLost is not used for a local close', async () => {
  const [sa, sb] = duplexPair();
  const a = new RpcPeer(sa, { connectionLost: () => new Error('not this') });
  const b = new RpcPeer(sb);
  b.handle('hang', () => new Promise(() => {}));
  const calls = hang(a, 1);
  await a.close();
  assert.ok((await calls[0]) instanceof ConnectionClosedError);
  await closeAll(b);
});

test('an incoming frame over maxMessageSize closes the connection with MessageTooLargeError', async () => {
  const [peer, raw] = peerAndRaw({ maxMessageSize: 1024 });
  const pending = peer.request('m').catch((e: unknown) => e);
  const closed = once(peer, 'close');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025);
  raw.sendBytes(header);
  const [reason] = (await closed) as [MessageTooLargeError];
  assert.ok(reason instanceof MessageTooLargeError);
  assert.equal(reason.size, 1025);
  assert.equal(reason.limit, 1024);
  const err = (await pending) as ConnectionClosedError;
  assert.ok(err instanceof ConnectionClosedError);
  assert.equal(err.cause, reason);
  // The remote is told why, with an error response whose id is null, then the stream ends.
  await raw.waitFor(Number.POSITIVE_INFINITY);
  const last = raw.received.at(-1) as { id: null; error: { code: number } };
  assert.equal(last.id, null);
  assert.equal(last.error.code, ErrorCodes.MessageTooLarge);
  assert.equal(raw.ended, true);
  raw.stream.end();
});

test('a remote that closes after an error response tells its peer why', async () => {
  // A peer configured with a larger limit than its remote sends what the remote refuses.
  const [a, b] = peerPair({ maxMessageSize: 1 << 20 }, { maxMessageSize: 1024 });
  const closed = once(a, 'close');
  const err = await a.request('m', [Buffer.alloc(2048)]).catch((e: unknown) => e);
  assert.ok(err instanceof ConnectionClosedError);
  assert.ok(err.cause instanceof RpcError);
  assert.equal(err.cause.code, ErrorCodes.MessageTooLarge);
  const [reason] = (await closed) as [RpcError];
  assert.equal(reason, err.cause);
  await closeAll(a, b);
});

test('a stream that ends in the middle of a frame closes the peer with ProtocolError', async () => {
  const [peer, raw] = peerAndRaw();
  const closed = once(peer, 'close');
  raw.sendBytes(encodeFrame(Buffer.from('{"jsonrpc":"2.0","method":"x"}')).subarray(0, 10));
  raw.stream.end();
  const [reason] = (await closed) as [ProtocolError];
  assert.ok(reason instanceof ProtocolError);
  assert.equal(reason.code, 'PLUGWIRE_RPC_PROTOCOL');
  assert.match(reason.message, /middle of a message/);
});

test('a stream in string mode closes the peer with ProtocolError', async () => {
  const [sa, sb] = duplexPair();
  const peer = new RpcPeer(sa);
  sa.setEncoding('utf8');
  const closed = once(peer, 'close');
  sb.write('text');
  const [reason] = (await closed) as [ProtocolError];
  assert.ok(reason instanceof ProtocolError);
  sb.destroy();
});

test('a peer on an already destroyed stream starts closed', async () => {
  const [sa, sb] = duplexPair();
  sa.destroy();
  sb.destroy();
  const peer = new RpcPeer(sa);
  assert.equal(peer.closed, true);
  await assert.rejects(peer.request('m'), ConnectionClosedError);
  await once(peer, 'close');
});

test('a remote that destroys its end is a lost connection, not a clean close', async () => {
  const [peer, raw] = peerAndRaw();
  const pending = peer.request('never-answered');
  const closed = once(peer, 'close');
  raw.stream.destroy();
  const [reason] = (await closed) as [Error | undefined];
  assert.ok(reason instanceof ConnectionClosedError, `reason: ${reason}`);
  await assert.rejects(pending, ConnectionClosedError);
});

test('a remote that stops reading holds our writes back: write() reports it and nothing is lost', async () => {
  const [peer, raw] = peerAndRaw();
  raw.stream.pause();
  raw.stream.removeAllListeners('data'); // a remote that reads nothing
  const big = 'x'.repeat(64 * 1024);
  for (let i = 0; i < 8; i++) peer.notify('fill', [big]);
  peer.flush();
  await new Promise((r) => setImmediate(r));
  assert.equal(peer.stream.writableNeedDrain, true, 'the stream does not take everything at once');
  const drained = once(peer.stream, 'drain');
  raw.stream.resume();
  await drained;
  await closeAll(peer);
  raw.stream.destroy();
});
