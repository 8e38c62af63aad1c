import assert from 'node:assert/strict';
import { getEventListeners, once } from 'node:events';
import { after, test } from 'node:test';
import { CancelledError, ErrorCodes, TimeoutError } from '../src/errors.js';
import type { RequestContext } from '../src/peer.js';
import { assertNoLeaks, closeAll, peerAndRaw, peerPair } from './helpers.js';

after(assertNoLeaks);

/** A handler that waits until its signal fires, and reports that it did. */
function waitForAbort() {
  let aborted!: (reason: unknown) => void;
  const abortedPromise = new Promise<unknown>((resolve) => {
    aborted = resolve;
  });
  let started!: () => void;
  const startedPromise = new Promise<void>((resolve) => {
    started = resolve;
  });
  const handler = (_params: unknown, ctx: RequestContext) =>
    new Promise((_resolve, reject) => {
      started();
      ctx.signal.addEventListener('abort', () => {
        aborted(ctx.signal.reason);
        reject(ctx.signal.reason);
      });
    });
  return { handler, started: startedPromise, aborted: abortedPromise };
}

test('aborting the signal sends $/cancelRequest, fires the remote signal and rejects with CancelledError', async () => {
  const [a, b] = peerPair();
  const remote = waitForAbort();
  b.handle('wait', remote.handler);
  const controller = new AbortController();
  const call = a.request('wait', [], { signal: controller.signal });
  await remote.started;
  controller.abort(new Error('user gave up'));
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof CancelledError);
    assert.equal(err.code, 'PLUGWIRE_RPC_CANCELLED');
    assert.equal((err.cause as Error).message, 'user gave up');
    return true;
  });
  const reason = await remote.aborted;
  assert.ok(reason instanceof CancelledError);
  assert.equal(a.pendingRequests, 0);
  await closeAll(a, b);
});

test('the cancel notification names the request id, and the late answer is ignored', async () => {
  const [peer, raw] = peerAndRaw();
  const controller = new AbortController();
  const call = peer.request('wait', { x: 1 }, { signal: controller.signal });
  const request = (await raw.next()) as { id: number };
  controller.abort();
  await assert.rejects(call, CancelledError);
  assert.deepEqual(await raw.next(), {
    jsonrpc: '2.0',
    method: '$/cancelRequest',
    params: { id: request.id },
  });
  raw.send({ jsonrpc: '2.0', id: request.id, error: { code: -32001, message: 'cancelled' } });
  peer.handle('ping', () => 'pong');
  raw.send({ jsonrpc: '2.0', id: 'after', method: 'ping' });
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', id: 'after', result: 'pong' });
  raw.stream.end();
  await closeAll(peer);
});

test('a cancelled request is answered with RequestCancelled when its handler finishes', async () => {
  const [peer, raw] = peerAndRaw();
  const remote = waitForAbort();
  peer.handle('wait', remote.handler);
  raw.send({ jsonrpc: '2.0', id: 5, method: 'wait' });
  await remote.started;
  raw.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 5 } });
  await remote.aborted;
  const response = (await raw.next()) as { id: number; error: { code: number } };
  assert.equal(response.id, 5);
  assert.equal(response.error.code, ErrorCodes.RequestCancelled);
  raw.stream.end();
  await closeAll(peer);
});

test('a signal first read after the request was cancelled is already aborted', async () => {
  const [peer, raw] = peerAndRaw();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let signalAborted: boolean | undefined;
  peer.handle('late', async (_params, ctx) => {
    await gate;
    signalAborted = ctx.signal.aborted;
  });
  peer.handle('ping', () => 'pong');
  raw.send({ jsonrpc: '2.0', id: 1, method: 'late' });
  raw.send({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 1 } });
  raw.send({ jsonrpc: '2.0', id: 2, method: 'ping' });
  // Messages are handled in order: once ping is answered, the cancel has been handled.
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', id: 2, result: 'pong' });
  open();
  const response = (await raw.next()) as { id: number; error: { code: number } };
  assert.equal(response.error.code, ErrorCodes.RequestCancelled);
  assert.equal(signalAborted, true);
  raw.stream.end();
  await closeAll(peer);
});

test('a request whose signal is already aborted rejects without sending anything', async () => {
  const [peer, raw] = peerAndRaw();
  const reason = new Error('too late');
  await assert.rejects(peer.request('m', [], { signal: AbortSignal.abort(reason) }), {
    name: 'CancelledError',
    cause: reason,
  });
  peer.notify('marker');
  assert.deepEqual(await raw.next(), { jsonrpc: '2.0', method: 'marker' });
  raw.stream.end();
  await closeAll(peer);
});

test('a timeout rejects with TimeoutError and cancels the request remotely', async () => {
  const [a, b] = peerPair();
  const remote = waitForAbort();
  b.handle('wait', remote.handler);
  await assert.rejects(a.request('wait', [], { timeout: 20 }), (err: unknown) => {
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.code, 'PLUGWIRE_RPC_TIMEOUT');
    assert.equal(err.timeout, 20);
    assert.equal(err.method, 'wait');
    return true;
  });
  assert.ok((await remote.aborted) instanceof CancelledError);
  await closeAll(a, b);
});

test('a request answered before its timeout leaves no timer behind', async () => {
  const [a, b] = peerPair();
  b.handle('fast', () => 'ok');
  for (let i = 0; i < 100; i++)
    assert.equal(await a.request('fast', [], { timeout: 60_000 }), 'ok');
  // assertNoLeaks (after) fails if any of the 60 s timers is still armed.
  await closeAll(a, b);
});

test('10 000 requests with the same signal add one listener, removed when they settle', async () => {
  const [a, b] = peerPair();
  b.handle('n', ([n]: [number]) => n);
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const controller = new AbortController();
    const calls = Array.from({ length: 10_000 }, (_, n) =>
      a.request('n', [n], { signal: controller.signal }),
    );
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    await Promise.all(calls);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    for (let n = 0; n < 100; n++) await a.request('n', [n], { signal: controller.signal });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning'),
      [],
    );
  } finally {
    process.off('warning', onWarning);
  }
  await closeAll(a, b);
});

test('aborting a signal shared by several requests cancels all of them', async () => {
  const [a, b] = peerPair();
  const remote = waitForAbort();
  b.handle('wait', remote.handler);
  const controller = new AbortController();
  const calls = [1, 2, 3].map(() =>
    a.request('wait', [], { signal: controller.signal }).catch((e) => e),
  );
  await remote.started;
  controller.abort();
  for (const err of await Promise.all(calls)) assert.ok(err instanceof CancelledError);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  await closeAll(a, b);
});

test('a handler signal fires when the connection closes', async () => {
  const [a, b] = peerPair();
  const remote = waitForAbort();
  b.handle('wait', remote.handler);
  const call = a.request('wait').catch((e: Error) => e);
  await remote.started;
  const closed = once(b, 'close');
  await a.close();
  assert.equal(((await remote.aborted) as Error).name, 'ConnectionClosedError');
  assert.equal(((await call) as Error).name, 'ConnectionClosedError');
  await closed;
});

test('an async notification handler signal fires when the connection closes', async () => {
  const [a, b] = peerPair();
  const remote = waitForAbort();
  b.handle('event', remote.handler);
  a.notify('event');
  await remote.started;
  await closeAll(a, b);
  assert.equal(((await remote.aborted) as Error).name, 'ConnectionClosedError');
});
