// What one peer can make a session hold is bounded by configuration, not by the peer: opens
// waiting for an ACK, streams half-closed by us, broker streams that never name their id.
// The far end is a RawPeer that sends whatever a test wants, valid or not.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { MuxBroker } from '../src/broker.js';
import { Flag, FrameType, GoAwayCode } from '../src/constants.js';
import {
  MuxError,
  ProtocolError,
  RemoteGoAwayError,
  StreamCloseTimeoutError,
  StreamOpenTimeoutError,
} from '../src/errors.js';
import { encodeFrame } from '../src/frame.js';
import { Session } from '../src/session.js';
import { duplexPair, liveArrayBuffers, type RawFrame, rawPair, settledGrowth } from './helpers.js';

/** A hang fails the test rather than the suite (old code never closes, for one). */
const T = { timeout: 10_000 };

const isSyn = (f: RawFrame) => (f.flags & Flag.SYN) !== 0;
const isRst = (f: RawFrame) => (f.flags & Flag.RST) !== 0;

/** Resolves once `n` frames passing `test` were received (already or later). */
async function frames(
  peer: ReturnType<typeof rawPair>['peer'],
  test: (f: RawFrame) => boolean,
  n: number,
): Promise<RawFrame[]> {
  for (;;) {
    const seen = peer.frames.filter(test);
    if (seen.length >= n) return seen;
    const before = peer.frames.length;
    await peer.waitFor((f) => peer.frames.indexOf(f) >= before);
  }
}

/**
 * The session's timeouts are unref'd (the socket holds the process, not a timer); an
 * in-memory pair holds nothing, so the test holds the event loop itself.
 */
function holdLoop(t: TestContext): void {
  const timer = setInterval(() => {}, 1000);
  t.after(() => clearInterval(timer));
}

/** Lets the session write what it gathered this tick and the pair deliver it. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

// ---- opens waiting for ACKs (maxPendingOpens) ------------------------------------------------

test(
  'opens beyond maxPendingOpens send no SYN until an earlier open is acknowledged',
  T,
  async (t) => {
    const { session, peer } = rawPair('client', { maxPendingOpens: 4 });
    t.after(() => session.destroy());
    const streams = Array.from({ length: 10 }, () => session.openStream());
    await frames(peer, isSyn, 4);
    await settle();
    assert.deepEqual(
      peer.frames.filter(isSyn).map((f) => f.streamId),
      [1, 3, 5, 7],
    );
    peer.send(FrameType.WindowUpdate, Flag.ACK, 3, 0);
    const syns = await frames(peer, isSyn, 5);
    assert.equal(syns[4]!.streamId, 9, 'the oldest waiting stream opens first');
    await settle();
    assert.equal(peer.frames.filter(isSyn).length, 5, 'one ACK frees one slot');
    assert.equal(streams[4]!.state, 'synSent');
    assert.equal(streams[5]!.state, 'init');
  },
);

test(
  'data and end() on a stream waiting for an open slot go out, in order, once it gets one',
  T,
  async (t) => {
    const { session, peer } = rawPair('client', { maxPendingOpens: 1 });
    t.after(() => session.destroy());
    session.openStream();
    const waiting = session.openStream();
    waiting.write('first ');
    waiting.end('second');
    await settle();
    assert.equal(peer.frames.filter((f) => f.streamId === 3).length, 0);
    peer.send(FrameType.WindowUpdate, Flag.ACK, 1, 0);
    await frames(peer, (f) => f.streamId === 3 && (f.flags & Flag.FIN) !== 0, 1);
    const mine = peer.frames.filter((f) => f.streamId === 3);
    assert.ok(isSyn(mine[0]!), 'the first frame of the stream carries the SYN');
    assert.equal(Buffer.concat(mine.map((f) => f.payload)).toString(), 'first second');
    assert.equal(waiting.state, 'localClose');
  },
);

test('a stream destroyed while waiting for an open slot never reaches the wire', T, async (t) => {
  const { session, peer } = rawPair('client', { maxPendingOpens: 1 });
  t.after(() => session.destroy());
  session.openStream();
  const gone = session.openStream();
  const next = session.openStream();
  gone.destroy();
  peer.send(FrameType.WindowUpdate, Flag.ACK, 1, 0);
  await frames(peer, isSyn, 2);
  await settle();
  assert.deepEqual(
    peer.frames.map((f) => f.streamId),
    [1, next.id],
  );
});

test('a stream reset by the peer before its ACK frees its open slot', T, async (t) => {
  const { session, peer } = rawPair('client', { maxPendingOpens: 1 });
  t.after(() => session.destroy());
  const first = session.openStream();
  first.on('error', () => {});
  session.openStream();
  await frames(peer, isSyn, 1);
  peer.send(FrameType.WindowUpdate, Flag.RST, 1, 0);
  const syns = await frames(peer, isSyn, 2);
  assert.equal(syns[1]!.streamId, 3);
});

test(
  'an open the peer never acknowledges closes the session with StreamOpenTimeoutError',
  T,
  async (t) => {
    const { session, peer } = rawPair('client', { streamOpenTimeout: 50 });
    t.after(() => session.destroy());
    holdLoop(t);
    const s = session.openStream();
    s.on('error', () => {});
    await frames(peer, isSyn, 1);
    const [err] = await once(session, 'close');
    assert.ok(err instanceof StreamOpenTimeoutError);
    assert.equal(err.code, 'PLUGWIRE_MUX_STREAM_OPEN_TIMEOUT');
    assert.equal(err.streamId, 1);
  },
);

test('an acknowledged open does not time out', T, async (t) => {
  const { session, peer } = rawPair('client', { streamOpenTimeout: 50 });
  t.after(() => session.destroy());
  holdLoop(t);
  session.openStream();
  await frames(peer, isSyn, 1);
  peer.send(FrameType.WindowUpdate, Flag.ACK, 1, 0);
  // A ping after three times the timeout proves the session is still up.
  await new Promise((r) => setTimeout(r, 150));
  peer.send(FrameType.Ping, Flag.SYN, 0, 7);
  await peer.waitFor((f) => f.type === FrameType.Ping && f.length === 7);
  assert.equal(session.state, 'open');
});

// ---- half-closed streams (streamCloseTimeout) ---------------------------------------------

test(
  'a stream we closed is reset when the peer never sends its FIN within streamCloseTimeout',
  T,
  async (t) => {
    const { session, peer } = rawPair('client', { streamCloseTimeout: 50 });
    t.after(() => session.destroy());
    holdLoop(t);
    const s = session.openStream();
    const errored = once(s, 'error');
    s.end('bye');
    await frames(peer, isSyn, 1);
    peer.send(FrameType.WindowUpdate, Flag.ACK, 1, 0);
    const rst = await peer.waitFor(isRst);
    assert.equal(rst.streamId, 1);
    const [err] = await errored;
    assert.ok(err instanceof StreamCloseTimeoutError);
    assert.equal(err.code, 'PLUGWIRE_MUX_STREAM_CLOSE_TIMEOUT');
    assert.equal(session.numStreams, 0);
    assert.equal(session.state, 'open');
  },
);

test('a stream whose peer closes its side in time is not reset', T, async (t) => {
  const { session, peer } = rawPair('client', { streamCloseTimeout: 50 });
  t.after(() => session.destroy());
  holdLoop(t);
  const s = session.openStream();
  s.resume();
  s.end('bye');
  await frames(peer, isSyn, 1);
  peer.send(FrameType.WindowUpdate, Flag.ACK | Flag.FIN, 1, 0);
  await once(s, 'close');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(peer.frames.filter(isRst).length, 0);
  assert.equal(session.numStreams, 0);
});

// ---- broker streams that never send their id (protocol.md, broker) ------------------------

function brokerPair(options: { timeout?: number; maxPendingStreams?: number }) {
  const { session, peer } = rawPair('client');
  const broker = new MuxBroker(session, options);
  broker.run();
  return { session, peer, broker };
}

test(
  'a dialled broker stream that never sends its id is reset after the broker timeout',
  T,
  async (t) => {
    const { session, peer, broker } = brokerPair({ timeout: 50 });
    t.after(() => session.destroy());
    holdLoop(t);
    peer.send(FrameType.WindowUpdate, Flag.SYN, 2, 0);
    const rst = await peer.waitFor(isRst);
    assert.equal(rst.streamId, 2);
    assert.equal(session.numStreams, 0);
    assert.equal(broker.unidentifiedStreams, 0);
  },
);

test('dialled broker streams beyond maxPendingStreams are reset at once', T, async (t) => {
  const { session, peer, broker } = brokerPair({ maxPendingStreams: 8 });
  t.after(() => session.destroy());
  for (let i = 1; i <= 1000; i++) peer.send(FrameType.WindowUpdate, Flag.SYN, 2 * i, 0);
  const resets = await frames(peer, isRst, 992);
  assert.equal(resets[0]!.streamId, 18, 'the first 8 wait for their id, the 9th is reset');
  assert.equal(session.numStreams, 8);
  assert.equal(broker.unidentifiedStreams, 8);
});

test(
  'a stream that names its id in time still reaches accept() with the bytes after the id',
  T,
  async (t) => {
    const { session, peer, broker } = brokerPair({ timeout: 1000, maxPendingStreams: 1 });
    t.after(() => session.destroy());
    const accepting = broker.accept(6);
    const id = Buffer.alloc(4);
    id.writeUInt32LE(6);
    peer.send(FrameType.Data, Flag.SYN, 2, Buffer.concat([id, Buffer.from('payload')]));
    const s = await accepting;
    const [chunk] = await once(s, 'data');
    assert.equal(chunk.toString(), 'payload');
    // The identified stream left the broker's waiting room: a second dial is taken.
    peer.send(FrameType.WindowUpdate, Flag.SYN, 4, 0);
    await settle();
    assert.equal(peer.frames.filter(isRst).length, 0);
  },
);

// ---- a broken session says why (for @plugwire/core to declare the plugin gone) -------------

test(
  'a frame with a bad version closes the session with a ProtocolError carrying a code',
  T,
  async () => {
    const { session, peer } = rawPair('client');
    peer.sendBytes(Buffer.from([9, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]));
    const [err] = await once(session, 'close');
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'PLUGWIRE_MUX_PROTOCOL_ERROR');
    assert.equal(session.closeError, err);
    const g = await peer.waitFor((f) => f.type === FrameType.GoAway);
    assert.equal(g.length, GoAwayCode.ProtocolError);
  },
);

test(
  'a data frame larger than the window closes the session before its payload is read',
  T,
  async () => {
    const { session, peer } = rawPair('server');
    // Only the header: a session that waited for the 16 MiB payload would never close.
    peer.send(FrameType.Data, Flag.SYN, 1, 16 * 1024 * 1024);
    const [err] = await once(session, 'close');
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'PLUGWIRE_MUX_PROTOCOL_ERROR');
    assert.match(err.message, /exceeds the 262144-byte window/);
  },
);

test('an error GoAway closes the session with RemoteGoAwayError, code and reason', T, async () => {
  const { session, peer } = rawPair('client');
  peer.send(FrameType.GoAway, 0, 0, GoAwayCode.InternalError);
  const [err] = await once(session, 'close');
  assert.ok(err instanceof RemoteGoAwayError && err instanceof MuxError);
  assert.equal(err.code, 'PLUGWIRE_MUX_GOAWAY');
  assert.equal(err.reason, GoAwayCode.InternalError);
  assert.equal(session.closeError, err);
  await session.closed;
});

test('limits that cannot be honoured are refused with a RangeError naming the option', T, () => {
  const [a] = duplexPair();
  for (const [options, name] of [
    [{ maxPendingOpens: 0 }, /maxPendingOpens/],
    [{ maxPendingOpens: 1.5 }, /maxPendingOpens/],
    [{ streamOpenTimeout: -1 }, /streamOpenTimeout/],
    [{ streamCloseTimeout: 2 ** 31 }, /streamCloseTimeout/],
    [{ streamCloseTimeout: Number.NaN }, /streamCloseTimeout/],
  ] as const) {
    assert.throws(() => new Session(a, 'client', options), { name: 'RangeError', message: name });
  }
  const session = new Session(a, 'client', { enableKeepAlive: false });
  assert.throws(() => new MuxBroker(session, { timeout: 0 }), {
    name: 'RangeError',
    message: /timeout/,
  });
  assert.throws(() => new MuxBroker(session, { maxPendingStreams: 0 }), {
    name: 'RangeError',
    message: /maxPendingStreams/,
  });
  session.destroy();
});

test(
  'tiny frames for a stream nobody reads do not keep the large reads they arrived in',
  T,
  async (t) => {
    const { session, peer } = rawPair('server', { maxStreamWindowSize: 8 * 1024 * 1024 });
    t.after(() => session.destroy());
    peer.send(FrameType.WindowUpdate, Flag.SYN, 1, 0); // read by the test
    peer.send(FrameType.WindowUpdate, Flag.SYN, 3, 0); // never read
    const read = await session.acceptStream();
    const idle = await session.acceptStream();
    read.resume();
    const before = liveArrayBuffers();
    const n = 64;
    for (let i = 0; i < n; i++) {
      // One 60 KiB write per frame pair, as one socket read would deliver it.
      peer.sendBytes(
        Buffer.concat([
          encodeFrame(FrameType.Data, 0, 3, Buffer.alloc(1)),
          encodeFrame(FrameType.Data, 0, 1, Buffer.alloc(60 * 1024)),
        ]),
      );
    }
    let got = 0;
    read.on('data', (c: Buffer) => {
      got += c.length;
    });
    while (got < n * 60 * 1024) await new Promise((r) => setImmediate(r));
    const held = await settledGrowth(before, 1024 * 1024);
    assert.ok(held < 1024 * 1024, `${n} unread bytes keep ${held} bytes alive`);
    assert.equal(idle.readableLength, 0, 'nothing was read from the idle stream');
  },
);
