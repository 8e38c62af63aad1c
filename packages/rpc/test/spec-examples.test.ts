// Every example of section 7 of the JSON-RPC 2.0 specification
// (https://www.jsonrpc.org/specification#examples), sent as the raw text it shows to a peer
// with the json codec; the peer must answer with the response the specification shows.
// "-->" data sent to the Server, "<--" data sent to the Client.

import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, test } from 'node:test';
import { jsonCodec } from '../src/codecs/json.js';
import type { RpcPeer } from '../src/peer.js';
import { assertNoLeaks, closeAll, peerAndRaw, type RawEnd } from './helpers.js';

after(assertNoLeaks);

let server: RpcPeer;
let client: RawEnd;
const updates: unknown[] = [];

beforeEach(() => {
  [server, client] = peerAndRaw({ codec: jsonCodec });
  server.handle('subtract', (params: number[] | { minuend: number; subtrahend: number }) =>
    Array.isArray(params) ? params[0]! - params[1]! : params.minuend - params.subtrahend,
  );
  server.handle('update', (params: unknown) => {
    updates.push(params);
  });
  server.handle('sum', (params: number[]) => params.reduce((a, b) => a + b, 0));
  server.handle('notify_hello', () => {});
  server.handle('get_data', () => ['hello', 5]);
  updates.length = 0;
});

afterEach(async () => {
  client.stream.end();
  await closeAll(server);
});

/** The next message from the server, parsed. */
const next = () => client.next();

/** Sends a request the server will answer, and checks its response is the next message. */
async function assertNothingElseSent(): Promise<void> {
  client.sendText('{"jsonrpc": "2.0", "method": "sum", "params": [1], "id": "sentinel"}');
  assert.deepEqual(await next(), { jsonrpc: '2.0', result: 1, id: 'sentinel' });
}

function sortById(responses: unknown): unknown[] {
  assert.ok(Array.isArray(responses), 'a batch is answered with an array');
  return [...responses].sort((a, b) =>
    JSON.stringify((a as { id: unknown }).id).localeCompare(
      JSON.stringify((b as { id: unknown }).id),
    ),
  );
}

test('spec example: rpc call with positional parameters', async () => {
  client.sendText('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}');
  assert.deepEqual(await next(), { jsonrpc: '2.0', result: 19, id: 1 });
  client.sendText('{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}');
  assert.deepEqual(await next(), { jsonrpc: '2.0', result: -19, id: 2 });
});

test('spec example: rpc call with named parameters', async () => {
  client.sendText(
    '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
  );
  assert.deepEqual(await next(), { jsonrpc: '2.0', result: 19, id: 3 });
  client.sendText(
    '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}',
  );
  assert.deepEqual(await next(), { jsonrpc: '2.0', result: 19, id: 4 });
});

test('spec example: a notification', async () => {
  client.sendText('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}');
  client.sendText('{"jsonrpc": "2.0", "method": "foobar"}');
  await assertNothingElseSent();
  assert.deepEqual(updates, [[1, 2, 3, 4, 5]]);
});

test('spec example: rpc call of non-existent method', async () => {
  client.sendText('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}');
  const response = (await next()) as { error: { code: number; message: string } };
  assert.deepEqual(
    { ...response, error: { code: response.error.code, message: response.error.message } },
    { jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id: '1' },
  );
});

test('spec example: rpc call with invalid JSON', async () => {
  client.sendText('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
  assert.deepEqual(await next(), {
    jsonrpc: '2.0',
    error: { code: -32700, message: 'Parse error' },
    id: null,
  });
});

test('spec example: rpc call with invalid Request object', async () => {
  client.sendText('{"jsonrpc": "2.0", "method": 1, "params": "bar"}');
  assert.deepEqual(await next(), {
    jsonrpc: '2.0',
    error: { code: -32600, message: 'Invalid Request' },
    id: null,
  });
});

test('spec example: rpc call Batch, invalid JSON', async () => {
  client.sendText(`[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]`);
  assert.deepEqual(await next(), {
    jsonrpc: '2.0',
    error: { code: -32700, message: 'Parse error' },
    id: null,
  });
});

test('spec example: rpc call with an empty Array', async () => {
  client.sendText('[]');
  assert.deepEqual(await next(), {
    jsonrpc: '2.0',
    error: { code: -32600, message: 'Invalid Request' },
    id: null,
  });
});

test('spec example: rpc call with an invalid Batch (but not empty)', async () => {
  client.sendText('[1]');
  assert.deepEqual(await next(), [
    { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid Request' }, id: null },
  ]);
});

test('spec example: rpc call with invalid Batch', async () => {
  client.sendText('[1,2,3]');
  const invalid = { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid Request' }, id: null };
  assert.deepEqual(await next(), [invalid, invalid, invalid]);
});

test('spec example: rpc call Batch', async () => {
  client.sendText(`[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]`);
  const responses = sortById(await next()).map((r) => {
    const e = (r as { error?: { code: number; message: string } }).error;
    // The specification shows code and message; this peer adds `data` to Method not found.
    return e ? { ...(r as object), error: { code: e.code, message: e.message } } : r;
  });
  assert.deepEqual(
    responses,
    sortById([
      { jsonrpc: '2.0', result: 7, id: '1' },
      { jsonrpc: '2.0', result: 19, id: '2' },
      { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid Request' }, id: null },
      { jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id: '5' },
      { jsonrpc: '2.0', result: ['hello', 5], id: '9' },
    ]),
  );
});

test('spec example: rpc call Batch (all notifications)', async () => {
  client.sendText(`[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]`);
  await assertNothingElseSent();
});
