// The peers of one connection share a ReceiveBudget: what a remote can make them hold in
// partly received messages, in all, is bounded by it (not by maxMessageSize per stream).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { ReceiveBudget } from '../src/budget.js';
import { jsonCodec } from '../src/codecs/json.js';
import { ReceiveBudgetExceededError } from '../src/errors.js';
import { encodeFrame, FrameDecoder } from '../src/framing.js';
import type { RpcPeer } from '../src/peer.js';
import { assertNoLeaks, peerAndRaw, type RawEnd } from './helpers.js';

after(assertNoLeaks);

const KiB = 1024;
const MiB = 1024 * KiB;

/** The first `n` bytes of a frame whose header announces `announced` bytes of body. */
function partialFrame(announced: number, n: number): Buffer {
  const b = Buffer.alloc(4 + n, 0x20);
  b.writeUInt32BE(announced, 0);
  return b;
}

test('decoders sharing a budget hold no more partial bytes than its limit, in all', () => {
  const budget = new ReceiveBudget(100 * KiB);
  const a = new FrameDecoder(MiB, () => {}, budget);
  const b = new FrameDecoder(MiB, () => {}, budget);
  a.push(partialFrame(MiB, 60 * KiB));
  assert.equal(budget.used, 60 * KiB + 4);
  assert.throws(() => b.push(partialFrame(MiB, 60 * KiB)), ReceiveBudgetExceededError);
  assert.equal(b.bufferedBytes, 0, 'bytes over the budget are not kept');
  assert.equal(budget.used, 60 * KiB + 4);
  // More bytes for the first decoder's frame count too.
  assert.throws(() => a.push(Buffer.alloc(50 * KiB)), ReceiveBudgetExceededError);
  assert.equal(budget.used, 0, 'a stopped decoder gives its bytes back');
});

test('a frame that completes gives its bytes back to the budget', () => {
  const budget = new ReceiveBudget(MiB);
  const bodies: number[] = [];
  const d = new FrameDecoder(MiB, (_b, start, end) => bodies.push(end - start), budget);
  const frame = encodeFrame(Buffer.alloc(300 * KiB));
  d.push(frame.subarray(0, 100 * KiB));
  assert.equal(budget.used, 100 * KiB);
  d.push(frame.subarray(100 * KiB));
  assert.deepEqual(bodies, [300 * KiB]);
  assert.equal(budget.used, 0);
  // Whole frames inside one chunk are never held, so they never touch the budget.
  d.push(Buffer.concat([encodeFrame(Buffer.alloc(10)), encodeFrame(Buffer.alloc(20))]));
  assert.equal(budget.used, 0);
});

test('the peer whose partial message exceeds the shared budget closes; the others carry on', async (t) => {
  const budget = new ReceiveBudget(MiB);
  const pairs: Array<[RpcPeer, RawEnd]> = Array.from({ length: 4 }, () =>
    peerAndRaw({ codec: jsonCodec, receiveBudget: budget, maxMessageSize: 64 * MiB }),
  );
  t.after(() => {
    for (const [peer, raw] of pairs) {
      peer.destroy();
      raw.stream.destroy();
    }
  });
  const closes = pairs.map(([peer]) => once(peer, 'close'));
  for (const [, raw] of pairs) raw.sendBytes(partialFrame(64 * MiB, 400 * KiB));
  // Two fit in 1 MiB; the third and fourth do not.
  const [third] = (await closes[2]) as [Error];
  const [fourth] = (await closes[3]) as [Error];
  for (const reason of [third, fourth]) {
    assert.ok(reason instanceof ReceiveBudgetExceededError);
    assert.equal(reason.code, 'PLUGWIRE_RPC_RECEIVE_BUDGET');
  }
  assert.equal(pairs[0]![0].closed, false);
  assert.equal(pairs[1]![0].closed, false);
  assert.ok(budget.used <= budget.limit);
  // The remote was told why before its stream was closed.
  const [complaint] = (await pairs[2]![1].waitFor(1)) as Array<{ error: { code: number } }>;
  assert.equal(complaint!.error.code, -32003);
  // A peer that closes gives back what it held.
  const [first, raw] = pairs[0]!;
  raw.stream.destroy();
  await once(first, 'close');
  assert.equal(budget.used, 400 * KiB + 4, 'only the second peer still holds bytes');
});

test('a receive budget must be a positive number of bytes, and receiveBudget a ReceiveBudget', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new ReceiveBudget(bad), RangeError);
  }
  assert.throws(() => peerAndRaw({ receiveBudget: {} as never }), /receiveBudget/);
});
