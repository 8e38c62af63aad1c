// The json codec speaks plain JSON-RPC 2.0: another implementation (the json-rpc-2.0 package),
// given only the length-prefixed framing, talks to RpcPeer both ways.

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
import { encodeFrame, FrameDecoder } from '../src/framing.js';
import { RpcPeer } from '../src/peer.js';
import { assertNoLeaks, closeAll, duplexPair } from './helpers.js';

after(assertNoLeaks);

function setup() {
  const [ours, theirs] = duplexPair();
  const peer = new RpcPeer(ours, { codec: jsonCodec });
  const other = new JSONRPCServerAndClient(
    new JSONRPCServer({ errorListener: () => {} }),
    new JSONRPCClient((payload) => {
      theirs.write(encodeFrame(Buffer.from(JSON.stringify(payload))));
    }),
    { errorListener: () => {} },
  );
  const decoder = new FrameDecoder(2 ** 32 - 1, (bytes, start, end) => {
    void other.receiveAndSend(JSON.parse(bytes.toString('utf8', start, end))).catch(() => {});
  });
  theirs.on('data', (chunk: Buffer) => decoder.push(chunk));
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
