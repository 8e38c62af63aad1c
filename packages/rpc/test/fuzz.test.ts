// Fuzz: random and mutated frames fed to a peer over an in-memory pair. For every case the
// peer must not throw, must close within a bounded time once the other side ends, must
// close with no reason or a typed one, must only ever answer with valid JSON-RPC responses,
// and must never hold more than one frame's worth of input.
//
// Runs a fixed seed and a random one; both are printed. Replay a failure with
// PLUGWIRE_FUZZ_SEED=<seed> node --import tsx --test packages/rpc/test/fuzz.test.ts

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { prng as mulberry32 } from '../../../test/support/prng.js';
import type { Codec } from '../src/codec.js';
import { jsonCodec } from '../src/codecs/json.js';
import { msgpackCodec } from '../src/codecs/msgpack.js';
import { RpcError, RpcPeerError } from '../src/errors.js';
import { encodeFrame, FrameDecoder } from '../src/framing.js';
import { classify, MessageKind } from '../src/messages.js';
import { RpcPeer } from '../src/peer.js';
import { assertNoLeaks, duplexPair, liveArrayBuffers, settledGrowth } from './helpers.js';

after(assertNoLeaks);

const FIXED_SEED = 20_240_521;
const CASES = 400;
const MAX_MESSAGE_SIZE = 4096;
/** A case that has not closed this long after its input ended has hung. */
const CASE_DEADLINE_MS = 5000;

/** Draws over the suites' one seeded PRNG (mulberry32, test/support/prng.ts). */
function prng(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}
type Rng = ReturnType<typeof prng>;

const METHODS = ['echo', 'add', 'throw', 'async', 'slow', '$/cancelRequest', 'nope', '', 'é'];

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 6 : 9)) {
    case 0:
      return null;
    case 1:
      return rng.next() < 0.5;
    case 2:
      return rng.pick([0, 1, -1, 127, 128, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1.5, -0.25, 1e300]);
    case 3:
      return rng.pick(['', 'a', '2.0', 'jsonrpc', 'ünï', '😀', 'x'.repeat(rng.int(100))]);
    case 4:
      return rng.int(1000);
    case 5:
      return rng.bytes(rng.int(16));
    case 6:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--)
        o[rng.pick(['id', 'x', 'method', 'k'])] = randomValue(rng, depth + 1);
      return o;
    }
  }
}

function randomMessage(rng: Rng): Record<string, unknown> {
  const id = rng.pick([1, 2, 'a', 'b', 0, -5, 1.5]);
  const params = rng.pick([undefined, [1, 2], { a: 1 }, [], randomValue(rng)]);
  switch (rng.int(5)) {
    case 0:
      return { jsonrpc: '2.0', id, method: rng.pick(METHODS), params };
    case 1:
      return { jsonrpc: '2.0', method: rng.pick(METHODS), params };
    case 2:
      return { jsonrpc: '2.0', method: '$/cancelRequest', params: { id } };
    case 3:
      return { jsonrpc: '2.0', id: rng.pick([id, null]), result: randomValue(rng) };
    default:
      return {
        jsonrpc: '2.0',
        id: rng.pick([id, null]),
        error: { code: rng.pick([-32000, -32601, 5]), message: 'e', data: randomValue(rng) },
      };
  }
}

/** Breaks one member of a message: a wrong type, a missing member, an extra one. */
function mutateMessage(rng: Rng, m: Record<string, unknown>): unknown {
  const key = rng.pick(['jsonrpc', 'id', 'method', 'params', 'result', 'error']);
  switch (rng.int(3)) {
    case 0:
      delete m[key];
      return m;
    case 1:
      m[key] = randomValue(rng);
      return m;
    default:
      return randomValue(rng);
  }
}

function randomBody(rng: Rng, codec: Codec): Buffer {
  const messages = () => {
    const m = randomMessage(rng);
    return rng.next() < 0.3 ? mutateMessage(rng, m) : m;
  };
  const value = rng.next() < 0.2 ? Array.from({ length: rng.int(6) }, messages) : messages();
  try {
    return Buffer.from(codec.encode(value));
  } catch {
    return rng.bytes(rng.int(32)); // e.g. a value JSON cannot hold
  }
}

/** One unit of input: a frame (valid, mutated or random) or loose bytes. */
function randomUnit(rng: Rng, codec: Codec): Buffer {
  const body = randomBody(rng, codec);
  switch (rng.int(10)) {
    case 0: // random body
      return encodeFrame(rng.bytes(rng.int(64)));
    case 1: {
      // flipped bits in the body
      for (let i = rng.int(4) + 1; i > 0 && body.length > 0; i--)
        body[rng.int(body.length)]! ^= 1 << rng.int(8);
      return encodeFrame(body);
    }
    case 2: // truncated body, correct header
      return encodeFrame(body.subarray(0, rng.int(body.length + 1)));
    case 3: // extra bytes after the value
      return encodeFrame(Buffer.concat([body, rng.bytes(rng.int(8) + 1)]));
    case 4: {
      // a header that lies about the length (within the limit): the stream desynchronises
      const frame = encodeFrame(body);
      frame.writeUInt32BE(rng.int(MAX_MESSAGE_SIZE + 1), 0);
      return frame;
    }
    case 5: {
      // a huge declared length
      const header = Buffer.alloc(4);
      header.writeUInt32BE(MAX_MESSAGE_SIZE + 1 + rng.int(2 ** 31), 0);
      return header;
    }
    case 6: // loose garbage
      return rng.bytes(rng.int(64) + 1);
    default:
      return encodeFrame(body);
  }
}

interface Outcome {
  reason: Error | undefined;
  sent: Buffer;
}

async function runCase(rng: Rng, codec: Codec): Promise<Outcome> {
  const [ours, theirs] = duplexPair();
  const peer = new RpcPeer(ours, { codec, maxMessageSize: MAX_MESSAGE_SIZE, name: 'fuzz' });
  peer.handle('echo', (params: unknown) => params);
  peer.handle('add', (params: number[]) => params.reduce((a, b) => a + b, 0));
  peer.handle('throw', () => {
    throw new Error('thrown');
  });
  peer.handle('async', async (params: unknown) => {
    await Promise.resolve();
    return params;
  });
  peer.handle(
    'slow',
    (_params, ctx) =>
      new Promise((_resolve, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      ),
  );
  const sent: Buffer[] = [];
  theirs.on('data', (chunk: Buffer) => sent.push(chunk));
  theirs.on('error', () => {});
  const closed = once(peer, 'close') as Promise<[Error | undefined]>;

  const input = Buffer.concat(Array.from({ length: rng.int(8) + 1 }, () => randomUnit(rng, codec)));
  // Fed in random chunks; the decoder never holds more than one frame.
  for (let at = 0; at < input.length; ) {
    const size = 1 + rng.int(Math.min(input.length - at, rng.next() < 0.5 ? 16 : 2048));
    theirs.write(input.subarray(at, at + size));
    at += size;
    const buffered = (peer as unknown as { decoder: FrameDecoder }).decoder.bufferedBytes;
    assert.ok(buffered <= MAX_MESSAGE_SIZE + 4, `holds ${buffered} bytes`);
  }
  theirs.end();

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('the peer did not close: hang')), CASE_DEADLINE_MS);
  });
  try {
    const [reason] = await Promise.race([closed, deadline]);
    return { reason, sent: Buffer.concat(sent) };
  } finally {
    clearTimeout(timer);
    theirs.destroy();
  }
}

/** Everything the peer sent must be valid JSON-RPC responses (single or batch). */
function checkSent(sent: Buffer, codec: Codec): void {
  const decoder = new FrameDecoder(2 ** 32 - 1, (bytes, start, end) => {
    const message = codec.decode(bytes, start, end);
    const items = Array.isArray(message) ? message : [message];
    if (Array.isArray(message)) assert.ok(message.length > 0, 'an empty batch response');
    for (const item of items) {
      assert.equal(classify(item), MessageKind.Response, `not a response: ${JSON.stringify(item)}`);
    }
  });
  decoder.push(sent);
  assert.ok(decoder.atFrameBoundary, 'the peer sent a partial frame');
}

function fuzz(seed: number) {
  return async (t: { diagnostic(message: string): void }) => {
    t.diagnostic(`seed ${seed} (replay: PLUGWIRE_FUZZ_SEED=${seed})`);
    const rng = prng(seed);
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    const before = liveArrayBuffers();
    try {
      for (let i = 0; i < CASES; i++) {
        const codec = rng.pick([jsonCodec, msgpackCodec]);
        const { reason, sent } = await runCase(rng, codec);
        assert.ok(
          reason === undefined || reason instanceof RpcPeerError || reason instanceof RpcError,
          `case ${i}: closed with an untyped error: ${reason}`,
        );
        checkSent(sent, codec);
      }
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    const grown = (await settledGrowth(before, 16 * 2 ** 20)) / 2 ** 20;
    assert.ok(grown < 16, `buffers grew by ${grown.toFixed(1)} MiB`);
  };
}

const replay = process.env.PLUGWIRE_FUZZ_SEED;
if (replay !== undefined) {
  test(`fuzz: replay of seed ${replay}`, fuzz(Number(replay)));
} else {
  const randomSeed = randomInt(2 ** 31);
  console.log(`fuzz seeds: fixed ${FIXED_SEED}, random ${randomSeed}`);
  test(`fuzz: random and mutated frames, fixed seed ${FIXED_SEED}`, fuzz(FIXED_SEED));
  test(`fuzz: random and mutated frames, random seed ${randomSeed}`, fuzz(randomSeed));
}

test('fuzz: huge declared lengths under the default limit allocate nothing until bytes arrive', async () => {
  const before = liveArrayBuffers();
  let peak = 0;
  for (let i = 0; i < 50; i++) {
    const [ours, theirs] = duplexPair();
    const peer = new RpcPeer(ours); // default maxMessageSize, 64 MiB
    const header = Buffer.alloc(4);
    header.writeUInt32BE(60 * 1024 * 1024);
    theirs.write(Buffer.concat([header, Buffer.alloc(100)]));
    await new Promise((r) => setImmediate(r)); // delivered: the peer holds the partial frame
    peak = Math.max(peak, await settledGrowth(before, 2 ** 20));
    const closed = once(peer, 'close');
    theirs.end();
    const [reason] = (await closed) as [Error];
    assert.equal((reason as RpcPeerError).code, 'PLUGWIRE_RPC_PROTOCOL');
    theirs.destroy();
  }
  assert.ok(peak < 2 ** 20, `a peer told of 60 MiB held ${peak} bytes more (100 arrived)`);
});
