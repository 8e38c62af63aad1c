// The json codec speaks plain JSON-RPC 2.0: another implementation (the json-rpc-2.0 package),
// given only a length-prefixed framing written here from the spec, talks to RpcPeer both ways.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  JSONRPCClient,
  JSONRPCErrorException,
  JSONRPCServer,
  JSONRPCServerAndClient,
} from 'json-rpc-2.0';
import { jsonCodec } from '../src/codecs/json.js';
import { ErrorCodes, RpcError } from '../src/errors.js';
import { RpcPeer } from '../src/peer.js';
import { assertNoLeaks, closeAll, duplexPair } from './helpers.js';

after(assertNoLeaks);

/**
 * The foreign side's framing, written from the spec (docs/protocol.md §8) and sharing no code
 * with src/framing.ts, so that a bug both sides of a symmetric framing would agree on (a
 * little-endian length, an off-by-one) cannot pass unseen.
 */
function frameOut(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

function framesIn(onMessage: (json: string) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (pending.length < 4 + length) return;
      onMessage(pending.toString('utf8', 4, 4 + length));
      pending = pending.subarray(4 + length);
    }
  };
}

function setup() {
  const [ours, theirs] = duplexPair();
  const peer = new RpcPeer(ours, { codec: jsonCodec });
  const other = new JSONRPCServerAndClient(
    new JSONRPCServer({ errorListener: () => {} }),
    new JSONRPCClient((payload) => {
      theirs.write(frameOut(JSON.stringify(payload)));
    }),
    { errorListener: () => {} },
  );
  theirs.on(
    'data',
    framesIn((json) => {
      void other.receiveAndSend(JSON.parse(json)).catch(() => {});
    }),
  );
  return { peer, other, theirs };
}

test('json-rpc-2.0 calls RpcPeer and gets its results and errors', async () => {
  const { peer, other, theirs } = setup();
  peer.handle('add', ([a, b]: [number, number]) => a + b);
  peer.handle('fail', () => {
    throw new RpcError(ErrorCodes.InvalidParams, 'bad params', { why: 'test' });
  });
  assert.equal(await other.request('add', [2, 3]), 5);
  await assert.rejects(Promise.resolve(other.request('fail', [])), (err: unknown) => {
    assert.ok(err instanceof JSONRPCErrorException);
    assert.equal(err.code, ErrorCodes.InvalidParams);
    assert.deepEqual(err.data, { why: 'test' });
    return true;
  });
  theirs.end();
  await closeAll(peer);
});

test('RpcPeer calls json-rpc-2.0 and gets its results and errors', async () => {
  const { peer, other, theirs } = setup();
  other.addMethod('greet', ({ name }: { name: string }) => `hello ${name}`);
  other.addMethod('fail', () => {
    throw new JSONRPCErrorException('nope', 42, { detail: 1 });
  });
  assert.equal(await peer.request('greet', { name: 'go' }), 'hello go');
  await assert.rejects(peer.request('fail', []), {
    name: 'RpcError',
    code: 42,
    data: { detail: 1 },
  });
  await assert.rejects(peer.request('missing', []), { code: ErrorCodes.MethodNotFound });
  theirs.end();
  await closeAll(peer);
});

test('notifications travel both ways between RpcPeer and json-rpc-2.0', async () => {
  const { peer, other, theirs } = setup();
  const toThem = new Promise((resolve) => other.addMethod('tick', resolve));
  const toUs = new Promise((resolve) => peer.handle('tock', resolve));
  peer.notify('tick', [1]);
  other.notify('tock', [2]);
  assert.deepEqual(await toThem, [1]);
  assert.deepEqual(await toUs, [2]);
  theirs.end();
  await closeAll(peer);
});

test('a 1 MiB message crosses both framings intact, both ways', async () => {
  const { peer, other, theirs } = setup();
  const big = 'x'.repeat(1024 * 1024);
  peer.handle('len', ([s]: [string]) => s.length);
  other.addMethod('big', () => big);
  assert.equal(await other.request('len', [big]), big.length);
  assert.equal(await peer.request('big', []), big);
  theirs.end();
  await closeAll(peer);
});
