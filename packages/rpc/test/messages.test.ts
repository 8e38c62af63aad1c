import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { classify, idOfInvalid, MessageKind } from '../src/messages.js';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

const v = '2.0';

test('a request has jsonrpc "2.0", a string method and a string, number or null id', () => {
  assert.equal(classify({ jsonrpc: v, method: 'm', id: 1 }), MessageKind.Request);
  assert.equal(classify({ jsonrpc: v, method: 'm', id: 'a', params: [1] }), MessageKind.Request);
  assert.equal(classify({ jsonrpc: v, method: 'm', id: null, params: {} }), MessageKind.Request);
});

test('a request without an id member is a notification', () => {
  assert.equal(classify({ jsonrpc: v, method: 'm' }), MessageKind.Notification);
  assert.equal(classify({ jsonrpc: v, method: 'm', params: [] }), MessageKind.Notification);
});

test('params null is read as no params', () => {
  assert.equal(classify({ jsonrpc: v, method: 'm', id: 1, params: null }), MessageKind.Request);
});

test('a request with a wrong jsonrpc, method, id or params type is an invalid request', () => {
  const invalid = [
    { method: 'm', id: 1 },
    { jsonrpc: '1.0', method: 'm', id: 1 },
    { jsonrpc: 2, method: 'm', id: 1 },
    { jsonrpc: v, method: 1, id: 1 },
    { jsonrpc: v, method: null, id: 1 },
    { jsonrpc: v, method: 'm', id: {} },
    { jsonrpc: v, method: 'm', id: [1] },
    { jsonrpc: v, method: 'm', id: true },
    { jsonrpc: v, method: 'm', id: Number.NaN },
    { jsonrpc: v, method: 'm', id: 1, params: 'bar' },
    { jsonrpc: v, method: 'm', id: 1, params: 5 },
    { jsonrpc: v, method: 'm', id: 1, result: 1 },
  ];
  for (const m of invalid) assert.equal(classify(m), MessageKind.InvalidRequest, JSON.stringify(m));
});

test('values that are not objects, and objects with neither method nor result/error, are invalid requests', () => {
  for (const m of [1, 'x', null, true, [], { foo: 'boo' }, { jsonrpc: v, id: 1 }]) {
    assert.equal(classify(m), MessageKind.InvalidRequest, JSON.stringify(m));
  }
});

test('a response has jsonrpc "2.0", an id, and exactly one of result and a valid error', () => {
  assert.equal(classify({ jsonrpc: v, id: 1, result: null }), MessageKind.Response);
  assert.equal(classify({ jsonrpc: v, id: 'a', result: 7 }), MessageKind.Response);
  const error = { code: -32000, message: 'x' };
  assert.equal(classify({ jsonrpc: v, id: null, error }), MessageKind.Response);
  assert.equal(
    classify({ jsonrpc: v, id: 1, error: { ...error, data: {} } }),
    MessageKind.Response,
  );
});

test('a null error next to a result, or a null result next to an error, counts as absent', () => {
  assert.equal(classify({ jsonrpc: v, id: 1, result: 2, error: null }), MessageKind.Response);
  const error = { code: 1, message: 'x' };
  assert.equal(classify({ jsonrpc: v, id: 1, result: null, error }), MessageKind.Response);
});

test('a malformed response is an invalid response (never answered)', () => {
  const invalid = [
    { id: 1, result: 1 },
    { jsonrpc: v, id: {}, result: 1 },
    { jsonrpc: v, id: 1, result: 1, error: { code: 1, message: 'x' } },
    { jsonrpc: v, id: 1, error: null },
    { jsonrpc: v, id: 1, error: { code: 'x', message: 'x' } },
    { jsonrpc: v, id: 1, error: { code: 1.5, message: 'x' } },
    { jsonrpc: v, id: 1, error: { code: 1 } },
    { jsonrpc: v, id: 1, error: 'bad' },
  ];
  for (const m of invalid)
    assert.equal(classify(m), MessageKind.InvalidResponse, JSON.stringify(m));
});

test('an invalid request is answered with its own id when that id is valid, else null', () => {
  assert.equal(idOfInvalid({ jsonrpc: v, method: 1, id: 'x' }), 'x');
  assert.equal(idOfInvalid({ jsonrpc: v, method: 1, id: {} }), null);
  assert.equal(idOfInvalid({ jsonrpc: v, method: 1 }), null);
  assert.equal(idOfInvalid(7), null);
});
