import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MessageTooLargeError } from '../src/errors.js';
import { encodeFrame, FrameDecoder, FrameWriter } from '../src/framing.js';
import { assertNoLeaks, liveArrayBuffers, settledGrowth } from './helpers.js';

after(assertNoLeaks);

/** A decoder that collects the bodies it delivers, as copies. */
function collector(maxMessageSize = 1024): { decoder: FrameDecoder; frames: Buffer[] } {
  const frames: Buffer[] = [];
  const decoder = new FrameDecoder(maxMessageSize, (bytes, start, end) => {
    frames.push(Buffer.from(bytes.subarray(start, end)));
  });
  return { decoder, frames };
}

test('encodeFrame writes a 4-byte big-endian length, then the body', () => {
  const frame = encodeFrame(Buffer.from('hello'));
  assert.deepEqual([...frame], [0, 0, 0, 5, ...Buffer.from('hello')]);
});

test('a frame in one chunk is delivered once, as a range of that chunk (no copy)', () => {
  const chunk = encodeFrame(Buffer.from('abc'));
  let seen: [Buffer, number, number] | undefined;
  new FrameDecoder(1024, (bytes, start, end) => {
    seen = [bytes, start, end];
  }).push(chunk);
  assert.ok(seen);
  assert.equal(seen[0], chunk);
  assert.deepEqual([seen[1], seen[2]], [4, 7]);
});

test('many frames in one chunk are all delivered, in order', () => {
  const { decoder, frames } = collector();
  const bodies = ['a', 'bb', '', 'cccc', 'd'.repeat(300)];
  decoder.push(Buffer.concat(bodies.map((b) => encodeFrame(Buffer.from(b)))));
  assert.deepEqual(
    frames.map((f) => f.toString()),
    bodies,
  );
  assert.ok(decoder.atFrameBoundary);
});

test('a frame split at every possible byte boundary is delivered once, intact', () => {
  const bytes = Buffer.concat([encodeFrame(Buffer.from('first')), encodeFrame(Buffer.from('2nd'))]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const { decoder, frames } = collector();
    decoder.push(bytes.subarray(0, cut));
    decoder.push(bytes.subarray(cut));
    assert.deepEqual(
      frames.map((f) => f.toString()),
      ['first', '2nd'],
      `cut at ${cut}`,
    );
  }
});

test('a frame fed one byte at a time is delivered once, intact', () => {
  const { decoder, frames } = collector();
  const body = Buffer.from('one byte at a time, header included');
  for (const byte of encodeFrame(body)) decoder.push(Buffer.from([byte]));
  assert.deepEqual(frames, [body]);
});

test('a zero-length frame is delivered as an empty body', () => {
  const { decoder, frames } = collector();
  decoder.push(Buffer.from([0, 0, 0, 0]));
  assert.deepEqual(frames, [Buffer.alloc(0)]);
});

test('a frame of exactly maxMessageSize bytes is accepted', () => {
  const { decoder, frames } = collector(16);
  decoder.push(encodeFrame(Buffer.alloc(16, 7)));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.length, 16);
});

test('a frame longer than maxMessageSize is rejected from its header before any allocation', () => {
  const { decoder, frames } = collector(1024);
  // Only the header: the decoder must not wait for (or make room for) the body.
  const header = Buffer.from([0x7f, 0xff, 0xff, 0xff]);
  assert.throws(
    () => decoder.push(header),
    (err: unknown) =>
      err instanceof MessageTooLargeError &&
      err.code === 'PLUGWIRE_RPC_MESSAGE_TOO_LARGE' &&
      err.size === 0x7fffffff &&
      err.limit === 1024,
  );
  assert.equal(decoder.bufferedBytes, 0);
  // Stopped: later bytes are ignored.
  decoder.push(encodeFrame(Buffer.from('x')));
  assert.deepEqual(frames, []);
});

test('a too-large header split across chunks is rejected when its fourth byte arrives', () => {
  const { decoder } = collector(1024);
  decoder.push(Buffer.from([0x00, 0x01]));
  decoder.push(Buffer.from([0x00]));
  assert.throws(() => decoder.push(Buffer.from([0x01])), MessageTooLargeError);
});

test('an incomplete frame holds only the bytes that arrived, not what its header claims', async () => {
  const { decoder } = collector(64 * 1024 * 1024);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(64 * 1024 * 1024);
  const body = Buffer.alloc(10);
  const before = liveArrayBuffers();
  decoder.push(header);
  decoder.push(body);
  const held = await settledGrowth(before, 1024 * 1024);
  assert.ok(held < 1024 * 1024, `the decoder allocated ${held} bytes for 14 that arrived`);
  assert.equal(decoder.bufferedBytes, 14);
  assert.equal(decoder.atFrameBoundary, false);
});

test('stop() from inside onFrame delivers no further frame of the same chunk', () => {
  const seen: string[] = [];
  const decoder = new FrameDecoder(1024, (bytes, start, end) => {
    seen.push(bytes.toString('utf8', start, end));
    decoder.stop();
  });
  decoder.push(Buffer.concat([encodeFrame(Buffer.from('a')), encodeFrame(Buffer.from('b'))]));
  assert.deepEqual(seen, ['a']);
});

test('FrameWriter sends the frames of one tick in one write, at the end of the tick', async () => {
  const writes: Buffer[] = [];
  const writer = new FrameWriter(1024, (bytes) => writes.push(bytes));
  writer.writeFrame(Buffer.from('one'));
  writer.writeFrame(Buffer.from('two'));
  assert.equal(writes.length, 0);
  await new Promise((resolve) => process.nextTick(resolve));
  assert.equal(writes.length, 1);
  const { decoder, frames } = collector();
  decoder.push(writes[0]!);
  assert.deepEqual(
    frames.map((f) => f.toString()),
    ['one', 'two'],
  );
});

test('FrameWriter never writes over bytes it has handed out', () => {
  const writes: Buffer[] = [];
  const writer = new FrameWriter(1024 * 1024, (bytes) => writes.push(bytes));
  const copies: Buffer[] = [];
  for (let i = 0; i < 5000; i++) {
    writer.writeFrame(Buffer.alloc(100, i & 0xff));
    writer.flush();
    copies.push(Buffer.from(writes[writes.length - 1]!));
  }
  writer.writeFrame(Buffer.alloc(200_000, 1)); // moves to a larger slab
  writer.flush();
  for (let i = 0; i < writes.length - 1; i++) assert.deepEqual(writes[i], copies[i]);
});

test('FrameWriter keeps the order of frames when a large one moves to a new slab', () => {
  const writes: Buffer[] = [];
  const writer = new FrameWriter(4 * 1024 * 1024, (bytes) => writes.push(bytes));
  writer.writeFrame(Buffer.from('small'));
  writer.writeFrame(Buffer.alloc(1024 * 1024, 2));
  writer.writeFrame(Buffer.from('after'));
  writer.flush();
  const { decoder, frames } = collector(4 * 1024 * 1024);
  for (const w of writes) decoder.push(w);
  assert.deepEqual(
    frames.map((f) => f.length),
    [5, 1024 * 1024, 5],
  );
  assert.equal(frames[0]!.toString(), 'small');
  assert.equal(frames[2]!.toString(), 'after');
});

test('FrameWriter rejects a frame over maxMessageSize and drops it', () => {
  const writes: Buffer[] = [];
  const writer = new FrameWriter(8, (bytes) => writes.push(bytes));
  assert.throws(() => writer.writeFrame(Buffer.alloc(9)), MessageTooLargeError);
  writer.writeFrame(Buffer.from('ok'));
  writer.flush();
  assert.deepEqual([...Buffer.concat(writes)], [0, 0, 0, 2, 0x6f, 0x6b]);
});

test('FrameWriter fails a message far over the limit before allocating room for it', () => {
  const writer = new FrameWriter(1024, () => {});
  writer.beginFrame();
  assert.throws(() => writer.ensure(2 ** 31), MessageTooLargeError);
  writer.abortFrame();
});

test('the tail of a large read that starts a frame is copied: holding it does not hold the read', async () => {
  const { decoder, frames } = collector(1024 * 1024);
  const before = liveArrayBuffers();
  let read: Buffer | null = Buffer.alloc(256 * 1024);
  const first = 256 * 1024 - 4 - 10; // one whole frame, then 10 bytes of the next one
  read.writeUInt32BE(first - 4, 0);
  read.writeUInt32BE(1000, first);
  decoder.push(read);
  read = null;
  frames.length = 0;
  const held = await settledGrowth(before, 64 * 1024);
  assert.equal(decoder.bufferedBytes, 14);
  assert.ok(held < 64 * 1024, `14 bytes of a partial frame keep ${held} bytes alive`);
});
