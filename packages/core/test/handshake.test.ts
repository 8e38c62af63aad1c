import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLeaks } from '../../../test/support/leaks.js';
import { HandshakeError } from '../src/errors.js';
import {
  findHandshake,
  formatHandshake,
  negotiateCodec,
  negotiateVersion,
  parseHandshake,
  parseVersionList,
} from '../src/handshake.js';

checkLeaks();

const expect = { versions: [1, 2], codecs: ['msgpack', 'json'] };

test('a handshake line has go-plugin field order: CORE|APP|NETWORK|ADDRESS|PROTOCOL', () => {
  const line = formatHandshake({
    coreVersion: 1,
    appVersion: 2,
    network: 'unix',
    address: '/tmp/plugwire-x/plugin.sock',
    codec: 'msgpack',
  });
  assert.equal(line, '1|2|unix|/tmp/plugwire-x/plugin.sock|jsonrpc+msgpack');
  assert.deepEqual(parseHandshake(line, expect), {
    coreVersion: 1,
    appVersion: 2,
    network: 'unix',
    address: '/tmp/plugwire-x/plugin.sock',
    codec: 'msgpack',
  });
});

test('a sixth field carries the plugin certificate', () => {
  const h = parseHandshake('1|1|tcp|127.0.0.1:4000|jsonrpc+json|TUlJQg==', expect);
  assert.equal(h.cert, 'TUlJQg==');
  assert.equal(h.network, 'tcp');
});

for (const [line, why] of [
  ['1|2|unix', /3 fields/],
  ['2|1|unix|/x|jsonrpc+msgpack', /core protocol version 2 is not supported/],
  ['1|7|unix|/x|jsonrpc+msgpack', /app protocol version 7 was not offered/],
  ['1|1|udp|/x|jsonrpc+msgpack', /unknown network "udp"/],
  ['1|1|unix||jsonrpc+msgpack', /empty address/],
  ['1|1|tcp|10.0.0.1:80|jsonrpc+msgpack', /not a loopback address/],
  ['1|1|unix|/x|grpc', /unknown protocol "grpc"/],
  ['1|1|unix|/x|jsonrpc+cbor', /codec "cbor" was not offered/],
  ['x|1|unix|/x|jsonrpc+json', /core version "x" is not a number/],
] as const) {
  test(`an invalid handshake line is rejected with what was expected: ${line}`, () => {
    const err = (() => {
      try {
        parseHandshake(line, expect);
      } catch (e) {
        return e as HandshakeError;
      }
      assert.fail('accepted');
    })();
    assert.ok(err instanceof HandshakeError);
    assert.equal(err.code, 'PLUGWIRE_HANDSHAKE');
    assert.match(err.message, why);
    assert.ok(err.message.includes(`"${line}"`), 'quotes the line');
    assert.match(err.message, /expected CORE\|APP\|NETWORK\|ADDRESS\|PROTOCOL/);
    assert.equal(err.line, line);
  });
}

test('lines that do not look like a handshake are plugin output, not errors', () => {
  assert.equal(findHandshake('hello world'), undefined);
  assert.equal(findHandshake('a|b|c'), undefined);
  assert.equal(findHandshake('price: 1|2 items'), undefined);
});

test('output printed without a newline before the handshake is split off', () => {
  assert.deepEqual(findHandshake('loading...1|1|unix|/x|jsonrpc+json'), {
    before: 'loading...',
    candidate: '1|1|unix|/x|jsonrpc+json',
  });
  // digits of the output run into the core version
  assert.deepEqual(findHandshake('count: 51|1|unix|/x|jsonrpc+json'), {
    before: 'count: 5',
    candidate: '1|1|unix|/x|jsonrpc+json',
  });
});

test('a handshake attempt with a wrong core version is still recognised (and then rejected)', () => {
  assert.deepEqual(
    findHandshake('2|1|unix|/x|jsonrpc+json')?.candidate,
    '2|1|unix|/x|jsonrpc+json',
  );
});

test('version negotiation picks the highest version both sides have', () => {
  assert.equal(negotiateVersion([1, 2], [1, 2, 3]), 2);
  assert.equal(negotiateVersion([3, 1], [1, 3]), 3);
  assert.equal(negotiateVersion([1], [2, 3]), undefined);
});

test("codec negotiation follows the host's order of preference", () => {
  assert.equal(negotiateCodec(['json', 'msgpack'], ['msgpack', 'json']), 'json');
  assert.equal(negotiateCodec(['msgpack', 'json'], ['json']), 'json');
  assert.equal(negotiateCodec(['msgpack'], ['json']), undefined);
});

test('PLUGIN_PROTOCOL_VERSIONS is a comma-separated list; junk is ignored', () => {
  assert.deepEqual(parseVersionList('1,2, 3,x,'), [1, 2, 3]);
  assert.deepEqual(parseVersionList(undefined), []);
});
