import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLeaks } from '../../../test/support/leaks.js';
import { Flag, FrameType } from '../src/constants.js';
import { FrameDecoder } from '../src/decode.js';
import { ProtocolError } from '../src/errors.js';
import { describeFrame, encodeFrame, encodeHeader, readHeader } from '../src/frame.js';

checkLeaks();

test('a header is encoded exactly as in the yamux spec (version, type, flags BE, id BE, length BE)', () => {
  const h = encodeHeader(FrameType.WindowUpdate, Flag.SYN | Flag.ACK, 0x01020304, 0xa0b0c0d0);
  assert.deepEqual([...h], [0, 1, 0, 3, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0]);
  assert.deepEqual(readHeader(h, 0), {
    version: 0,
    type: FrameType.WindowUpdate,
    flags: 3,
    streamId: 0x01020304,
    length: 0xa0b0c0d0,
  });
});

test('a data frame carries its payload right after the header', () => {
  const f = encodeFrame(FrameType.Data, Flag.FIN, 7, Buffer.from('hi'));
  assert.deepEqual([...f], [0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 2, 0x68, 0x69]);
});

test('frames are described for logs with their flags as names', () => {
  assert.equal(
    describeFrame({ type: FrameType.Data, flags: Flag.SYN | Flag.FIN, streamId: 3, length: 5 }),
    'Data(id=3, flags=SYN|FIN, len=5)',
  );
});

function collect(chunks: Buffer[]) {
  const out: Array<[number, number, number, number] | string> = [];
  const d = new FrameDecoder({
    onHeader: (t, f, id, len) => out.push([t, f, id, len]),
    onPayload: (p) => out.push(p.toString()),
  });
  for (const c of chunks) d.push(c);
  return { out, idle: d.idle };
}

test('the decoder gives the same frames however the input is split, at every byte boundary', () => {
  const wire = Buffer.concat([
    encodeFrame(FrameType.Data, Flag.SYN, 1, Buffer.from('hello')),
    encodeHeader(FrameType.WindowUpdate, Flag.ACK, 1, 1000),
    encodeHeader(FrameType.Ping, Flag.SYN, 0, 42),
    encodeFrame(FrameType.Data, 0, 3, Buffer.from('world!')),
    encodeHeader(FrameType.GoAway, 0, 0, 0),
  ]);
  const whole = collect([wire]).out;
  for (let i = 0; i <= wire.length; i++) {
    for (let j = i; j <= wire.length; j += 5) {
      const { out, idle } = collect([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)]);
      assert.deepEqual(join(out), join(whole), `split at ${i}/${j}`);
      assert.equal(idle, true);
    }
  }
  // one byte at a time
  const bytes = [...wire].map((b) => Buffer.from([b]));
  assert.deepEqual(join(collect(bytes).out), join(whole));
});

function join(out: Array<[number, number, number, number] | string>): unknown[] {
  const r: unknown[] = [];
  for (const x of out) {
    if (typeof x === 'string' && typeof r[r.length - 1] === 'string') r[r.length - 1] += x;
    else r.push(x);
  }
  return r;
}

test('payload pieces are views of the input, not copies', () => {
  const wire = encodeFrame(FrameType.Data, 0, 1, Buffer.from('abcdef'));
  let piece: Buffer | undefined;
  new FrameDecoder({ onHeader() {}, onPayload: (p) => (piece = p) }).push(wire);
  assert.equal(piece!.buffer, wire.buffer);
});

test('a frame with a version other than 0 is a protocol error', () => {
  const h = encodeHeader(FrameType.Data, 0, 1, 0);
  h[0] = 1;
  assert.throws(() => collect([h]), ProtocolError);
});

test('a frame type above GoAway is a protocol error', () => {
  const h = encodeHeader(FrameType.Data, 0, 1, 0);
  h[1] = 4;
  assert.throws(() => collect([h]), /invalid frame type 4/);
});

test('a stopped decoder ignores the rest of its input', () => {
  const wire = Buffer.concat([
    encodeHeader(FrameType.Ping, Flag.SYN, 0, 1),
    encodeHeader(FrameType.Ping, Flag.SYN, 0, 2),
  ]);
  const seen: number[] = [];
  const d: FrameDecoder = new FrameDecoder({
    onHeader: (_t, _f, _id, len) => {
      seen.push(len);
      d.stop();
    },
    onPayload() {},
  });
  d.push(wire);
  assert.deepEqual(seen, [1]);
});
