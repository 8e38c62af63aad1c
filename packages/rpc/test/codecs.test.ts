import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Packr } from 'msgpackr';
import { codecByName, codecNames } from '../src/codec.js';
import { jsonCodec } from '../src/codecs/json.js';
import { msgpackCodec } from '../src/codecs/msgpack.js';
import { CodecError } from '../src/errors.js';
import { FrameWriter } from '../src/framing.js';
import { assertNoLeaks } from './helpers.js';

after(assertNoLeaks);

// msgpackr in plain mode, as the reference implementation the codec is checked against.
const reference = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  encodeUndefinedAsNil: true,
  int64AsType: 'auto',
} as unknown as ConstructorParameters<typeof Packr>[0]);

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const decodeMsgpack = (bytes: Uint8Array) => msgpackCodec.decode(bytes);

const sample = {
  jsonrpc: '2.0',
  id: 42,
  method: 'kv.put',
  params: {
    key: 'user:1234',
    ints: [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1],
    negatives: [
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      -(2 ** 53) + 1,
    ],
    floats: [0.5, -1.25, 1e300, Number.MIN_VALUE],
    strings: ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(300), 'z'.repeat(70000)],
    unicode: ['héllo', 'ünïcödé ✓', '日本語', '😀 emoji', 'é'.repeat(100), `${'x'.repeat(2000)}é`],
    flags: [true, false, null],
    nested: { deeper: { deepest: [[], {}, [[1]]] } },
    many: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])),
  },
};

test('msgpack: a message round-trips through encode and decode', () => {
  assert.deepEqual(decodeMsgpack(msgpackCodec.encode(sample)), sample);
});

test('msgpack: what the codec writes, the reference msgpack implementation reads the same', () => {
  assert.deepEqual(reference.unpack(msgpackCodec.encode(sample)), sample);
});

test('msgpack: what the reference msgpack implementation writes, the codec reads the same', () => {
  assert.deepEqual(decodeMsgpack(reference.pack(sample)), reference.unpack(reference.pack(sample)));
});

test('msgpack: objects are plain maps and strings plain str, without extensions', () => {
  assert.equal(hex(msgpackCodec.encode({ a: 1 })), '81a16101');
  assert.equal(hex(msgpackCodec.encode(['ab', null, true])), '93a26162c0c3');
});

test('msgpack: integers take the smallest int type, and never a float', () => {
  assert.equal(hex(msgpackCodec.encode(200)), 'cc' + 'c8');
  assert.equal(hex(msgpackCodec.encode(-100)), 'd0' + '9c');
  assert.equal(hex(msgpackCodec.encode(2 ** 40)), 'cf' + '0000010000000000');
  assert.equal(hex(msgpackCodec.encode(-(2 ** 40))), 'd3' + 'ffffff0000000000');
  assert.equal(hex(msgpackCodec.encode(1.5)), 'cb' + '3ff8000000000000');
});

test('msgpack: Buffer and Uint8Array are bin and decode as Buffer', () => {
  const encoded = msgpackCodec.encode([Buffer.from([1, 2]), new Uint8Array([3])]);
  assert.equal(hex(encoded), '92' + 'c4020102' + 'c40103');
  const decoded = decodeMsgpack(encoded) as Buffer[];
  assert.ok(Buffer.isBuffer(decoded[0]) && Buffer.isBuffer(decoded[1]));
  assert.deepEqual([...decoded[0]!, ...decoded[1]!], [1, 2, 3]);
});

test('msgpack: other typed arrays, DataView and ArrayBuffer are bin of their bytes', () => {
  const words = new Uint16Array([0x0102]);
  const bytes = new Uint8Array(words.buffer);
  for (const value of [words, new DataView(words.buffer), words.buffer]) {
    assert.deepEqual(decodeMsgpack(msgpackCodec.encode(value)), Buffer.from(bytes));
  }
});

test('msgpack: binary values below 4 KiB are copies, larger ones views of the received bytes', () => {
  const encoded = msgpackCodec.encode([Buffer.alloc(10, 1), Buffer.alloc(8192, 2)]);
  // Buffer.alloc, never from the shared pool (Node 24 pools more): else the small copy
  // could land in the same pool slab as the received bytes.
  const received = Buffer.alloc(encoded.length);
  received.set(encoded);
  const [small, large] = msgpackCodec.decode(received) as Buffer[];
  assert.notEqual(small!.buffer, received.buffer);
  assert.equal(large!.buffer, received.buffer);
});

test('msgpack: undefined members are left out and undefined items are nil, as in JSON', () => {
  const value = { a: undefined, b: 1, c: [undefined, () => 1], d: () => 1, e: Symbol('x') };
  assert.deepEqual(decodeMsgpack(msgpackCodec.encode(value)), JSON.parse(JSON.stringify(value)));
});

test('msgpack: Date is the timestamp extension and decodes as a Date', () => {
  for (const date of [new Date(0), new Date(1_700_000_000_000), new Date(1_700_000_000_123)]) {
    const encoded = msgpackCodec.encode(date);
    assert.equal(encoded[1], 0xff, 'extension type -1');
    assert.deepEqual(decodeMsgpack(encoded), date);
    assert.deepEqual(reference.unpack(encoded), date);
  }
  const old = new Date(-1_000_000_000_000); // before 1970: timestamp 96
  assert.deepEqual(decodeMsgpack(msgpackCodec.encode(old)), old);
});

test('msgpack: an object with toJSON is written as what toJSON returns', () => {
  const value = { toJSON: () => ({ as: 'json' }) };
  assert.deepEqual(decodeMsgpack(msgpackCodec.encode(value)), { as: 'json' });
});

test('msgpack: int64 beyond 2^53 decodes as BigInt, within it as a number', () => {
  assert.equal(decodeMsgpack(Buffer.from('cf0000010000000000', 'hex')), 2 ** 40);
  assert.equal(decodeMsgpack(Buffer.from('cf7fffffffffffffff', 'hex')), 2n ** 63n - 1n);
  assert.equal(decodeMsgpack(Buffer.from('d38000000000000000', 'hex')), -(2n ** 63n));
  assert.equal(hex(msgpackCodec.encode(2n ** 63n - 1n)), 'd37fffffffffffffff');
});

test('msgpack: a BigInt beyond 64 bits cannot be encoded', () => {
  assert.throws(() => msgpackCodec.encode(2n ** 64n), CodecError);
});

test('msgpack: a cycle cannot be encoded', () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.throws(() => msgpackCodec.encode(cycle), CodecError);
});

test('msgpack: a __proto__ key becomes an own property, not the prototype', () => {
  const encoded = Buffer.from('81a95f5f70726f746f5f5f81a17801', 'hex'); // {"__proto__": {x: 1}}
  const decoded = decodeMsgpack(encoded) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value, { x: 1 });
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

test('msgpack: integer map keys decode as their text', () => {
  assert.deepEqual(decodeMsgpack(Buffer.from('8201a161ffa162', 'hex')), { 1: 'a', '-1': 'b' });
});

test('msgpack: invalid input is a CodecError, never a crash', () => {
  const cases: Record<string, string> = {
    empty: '',
    'truncated str': 'a5616263',
    'truncated map': '82a161',
    'trailing bytes': '0102',
    'never-used byte 0xc1': 'c1',
    'unknown extension type': 'd40100',
    'array of 2^32-1 items in 5 bytes': 'ddffffffff',
    'map of 65535 entries in 3 bytes': 'deffff',
    'bin longer than the message': 'c6ffffffff00',
    'a map key that is an array': '819001',
  };
  for (const [name, bytes] of Object.entries(cases)) {
    assert.throws(() => decodeMsgpack(Buffer.from(bytes, 'hex')), CodecError, name);
  }
  assert.throws(() => decodeMsgpack(Buffer.alloc(100_000, 0x91)), CodecError, 'nested too deeply');
});

test('msgpack: encodeInto appends the same bytes that encode returns', () => {
  const writes: Buffer[] = [];
  const writer = new FrameWriter(1 << 20, (b) => writes.push(b));
  writer.beginFrame();
  msgpackCodec.encodeInto!(sample, writer);
  writer.endFrame();
  writer.flush();
  assert.deepEqual(Buffer.concat(writes).subarray(4), Buffer.from(msgpackCodec.encode(sample)));
});

test('msgpack: a result of encode is not changed by later encodes', () => {
  const first = msgpackCodec.encode({ n: 1 });
  const copy = Buffer.from(first);
  for (let i = 0; i < 1000; i++) msgpackCodec.encode({ n: i, s: 'x'.repeat(i) });
  assert.deepEqual(Buffer.from(first), copy);
});

test('json: a message without binary values is exactly JSON.stringify', () => {
  assert.equal(Buffer.from(jsonCodec.encode(sample)).toString(), JSON.stringify(sample));
  assert.deepEqual(jsonCodec.decode(jsonCodec.encode(sample)), sample);
});

test('json: binary values travel as {"$bytes": base64} and decode as Buffer', () => {
  const value = { file: Buffer.from('hi'), list: [new Uint8Array([1, 2, 3])] };
  const text = Buffer.from(jsonCodec.encode(value)).toString();
  assert.equal(text, '{"file":{"$bytes":"aGk="},"list":[{"$bytes":"AQID"}]}');
  assert.deepEqual(jsonCodec.decode(Buffer.from(text)), {
    file: Buffer.from('hi'),
    list: [Buffer.from([1, 2, 3])],
  });
});

test('json: encoding binary values does not change the value encoded', () => {
  const value = { file: Buffer.from('hi'), other: { n: 1 } };
  jsonCodec.encode(value);
  assert.ok(Buffer.isBuffer(value.file));
});

test('json: only an object whose sole member is a string $bytes is read as binary', () => {
  const text = '[{"$bytes":"aGk=","x":1},{"$bytes":5},{"$bytes":"aGk="}]';
  assert.deepEqual(jsonCodec.decode(Buffer.from(text)), [
    { $bytes: 'aGk=', x: 1 },
    { $bytes: 5 },
    Buffer.from('hi'),
  ]);
});

test('json: a BigInt cannot be encoded', () => {
  assert.throws(() => jsonCodec.encode({ n: 1n }), CodecError);
});

test('json: invalid JSON fails to decode', () => {
  assert.throws(() => jsonCodec.decode(Buffer.from('{"a":')));
});

test('json: decode reads the given range of the bytes', () => {
  const bytes = Buffer.from('xx[1,2]yy');
  assert.deepEqual(jsonCodec.decode(bytes, 2, 7), [1, 2]);
});

test('codecByName returns the built-in codecs and throws CodecError for others', () => {
  assert.equal(codecByName('json'), jsonCodec);
  assert.equal(codecByName('msgpack'), msgpackCodec);
  assert.deepEqual(codecNames, ['msgpack', 'json']);
  assert.throws(
    () => codecByName('cbor'),
    (err: unknown) =>
      err instanceof CodecError && err.code === 'PLUGWIRE_RPC_CODEC' && /cbor/.test(err.message),
  );
});
