import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLeaks } from '../../../test/support/leaks.js';
import { Flag, FrameType } from '../src/constants.js';
import { MuxError } from '../src/errors.js';
import { encodeFrame, encodeHeader } from '../src/frame.js';
import { Session } from '../src/session.js';
import { duplexPair, liveArrayBuffers, prng, randomBytes, settledGrowth } from './helpers.js';

checkLeaks();

/** A plausible frame sequence a client might send, to be mutated. */
function validTraffic(rand: () => number): Buffer[] {
  const frames: Buffer[] = [];
  const ids = [1, 3, 5];
  for (const id of ids) {
    frames.push(encodeFrame(FrameType.Data, Flag.SYN, id, randomBytes(rand, (rand() * 64) | 0)));
  }
  for (let i = 0; i < 12; i++) {
    const id = ids[(rand() * ids.length) | 0]!;
    const r = rand();
    if (r < 0.4)
      frames.push(encodeFrame(FrameType.Data, 0, id, randomBytes(rand, (rand() * 2048) | 0)));
    else if (r < 0.55)
      frames.push(encodeHeader(FrameType.WindowUpdate, 0, id, (rand() * 65536) | 0));
    else if (r < 0.65)
      frames.push(encodeHeader(FrameType.Ping, Flag.SYN, 0, (rand() * 2 ** 32) >>> 0));
    else if (r < 0.75) frames.push(encodeHeader(FrameType.WindowUpdate, Flag.FIN, id, 0));
    else if (r < 0.8) frames.push(encodeHeader(FrameType.WindowUpdate, Flag.RST, id, 0));
    else if (r < 0.85) frames.push(encodeHeader(FrameType.GoAway, 0, 0, (rand() * 3) | 0));
    else frames.push(encodeHeader(FrameType.WindowUpdate, Flag.ACK, id, (rand() * 1024) | 0));
  }
  return frames;
}

/** Breaks traffic the ways a broken or hostile peer would. */
function mutate(rand: () => number, frames: Buffer[]): Buffer {
  let wire = Buffer.concat(frames);
  const kind = (rand() * 7) | 0;
  if (kind === 0) {
    // flip random bytes
    for (let i = 0, n = 1 + ((rand() * 8) | 0); i < n; i++) {
      wire[(rand() * wire.length) | 0] = (rand() * 256) | 0;
    }
  } else if (kind === 1) {
    wire = Buffer.concat([wire, randomBytes(rand, (rand() * 200) | 0)]); // trailing garbage
  } else if (kind === 2) {
    wire = wire.subarray(0, (rand() * wire.length) | 0); // truncated mid-frame
  } else if (kind === 3) {
    wire = Buffer.concat([wire, encodeHeader(FrameType.Data, 0, 1, 0xffff_fff0)]); // huge length
  } else if (kind === 4) {
    wire = Buffer.concat([wire, encodeHeader(FrameType.WindowUpdate, 0, 1, 0xffff_ffff)]); // overflow
  } else if (kind === 5) {
    const h = encodeHeader(FrameType.Ping, Flag.SYN, 0, 1);
    h[0] = 1 + ((rand() * 255) | 0); // bad version
    wire = Buffer.concat([wire, h]);
  } else {
    const h = encodeHeader(FrameType.Ping, Flag.SYN, 0, 1);
    h[1] = 4 + ((rand() * 252) | 0); // bad type
    wire = Buffer.concat([wire, h]);
  }
  return wire;
}

async function feed(wire: Buffer, rand: () => number): Promise<Session> {
  const [a, b] = duplexPair();
  const session = new Session(a, 'server', { enableKeepAlive: false });
  session.on('stream', (s) => {
    s.on('error', () => {});
    s.resume();
    s.write('reply');
  });
  b.on('data', () => {});
  b.on('error', () => {});
  // split the input at random points, down to single bytes
  let off = 0;
  while (off < wire.length) {
    const n = 1 + ((rand() * (rand() < 0.3 ? 4 : 512)) | 0);
    b.write(wire.subarray(off, off + n));
    off += n;
  }
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return session;
}

async function run(seed: number, iterations: number): Promise<Record<string, number>> {
  const rand = prng(seed);
  const outcomes: Record<string, number> = {};
  const before = liveArrayBuffers();
  let peak = 0;
  for (let i = 0; i < iterations; i++) {
    const wire = mutate(rand, validTraffic(rand));
    const session = await feed(wire, rand);
    // While the session lives: a frame header announcing 4 GiB must not have cost memory.
    // Every 4th case (a full GC each time is costly; ~1 case in 7 announces a huge frame).
    if (i % 4 === 0) peak = Math.max(peak, await settledGrowth(before, 16 * 1024 * 1024));
    const outcome = session.closeError ? (session.closeError as MuxError).code : session.state;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (session.state === 'closed' && session.closeError) {
      assert.ok(
        session.closeError instanceof MuxError,
        `seed ${seed} iteration ${i}: untyped error ${session.closeError}`,
      );
    }
    session.destroy();
    await session.closed;
  }
  assert.ok(peak < 16 * 1024 * 1024, `a session held ${peak} more bytes of buffers`);
  return outcomes;
}

test('mutated and random frames end in a typed error or nothing, never a crash or hang (fixed seed)', async () => {
  const outcomes = await run(0x5eed, 400);
  // the corpus really reaches both the error paths and the paths that survive
  assert.ok((outcomes.PLUGWIRE_MUX_PROTOCOL_ERROR ?? 0) > 50, JSON.stringify(outcomes));
  assert.ok((outcomes.open ?? 0) > 20, JSON.stringify(outcomes));
});

test('mutated and random frames end in a typed error or nothing (random seed, printed)', async (t) => {
  const seed = (Math.random() * 2 ** 32) >>> 0;
  t.diagnostic(`fuzz seed ${seed} (replay: run(${seed}, 400))`);
  t.diagnostic(JSON.stringify(await run(seed, 400)));
});

test('pure random bytes close the session with a typed protocol error', async () => {
  const rand = prng(7);
  for (let i = 0; i < 100; i++) {
    // At least one header: fewer than 12 bytes are a frame still arriving, not an error.
    const session = await feed(randomBytes(rand, 12 + ((rand() * 300) | 0)), rand);
    assert.equal(session.state, 'closed', `input ${i} did not close the session`);
    assert.ok(session.closeError instanceof MuxError, `input ${i}: ${session.closeError}`);
    assert.equal(session.closeError.code, 'PLUGWIRE_MUX_PROTOCOL_ERROR');
    session.destroy();
    await session.closed;
  }
});
