import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { checkLeaks } from '../../../test/support/leaks.js';
import { Flag, FrameType, GoAwayCode, INITIAL_STREAM_WINDOW } from '../src/constants.js';
import {
  KeepAliveTimeoutError,
  PingTimeoutError,
  ProtocolError,
  RemoteGoAwayError,
  SessionClosedError,
  StreamResetError,
  WriteTimeoutError,
} from '../src/errors.js';
import { Session } from '../src/session.js';
import { rawPair, readAll, sessionPair, whenClosed } from './helpers.js';

checkLeaks();

test('a stream opened by the client is accepted by the server and echoes both ways', async () => {
  const { client, server, close } = sessionPair();
  server.on('stream', (s) => s.pipe(s));
  const s = client.openStream();
  assert.equal(s.id, 1);
  s.end('ping');
  assert.equal((await readAll(s)).toString(), 'ping');
  await close();
});

test('the server can open streams too, with even ids, and the client accepts them', async () => {
  const { client, server, close } = sessionPair();
  const accepted = client.acceptStream();
  const s = server.openStream();
  assert.equal(s.id, 2);
  s.end('from server');
  s.resume();
  const c = await accepted;
  assert.equal((await readAll(c)).toString(), 'from server');
  c.end();
  await whenClosed(s);
  await close();
});

test('stream ids go up by two and are never reused', async () => {
  const { client, close } = sessionPair();
  const ids = [client.openStream(), client.openStream(), client.openStream()].map((s) => {
    s.destroy();
    return s.id;
  });
  assert.deepEqual(ids, [1, 3, 5]);
  assert.equal(client.openStream().id, 7);
  await close();
});

test('pipeline works across a stream, and 8 MiB arrive intact', async () => {
  const { client, server, close } = sessionPair();
  const data = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
  const got = new Promise<Buffer>((resolve) => server.once('stream', (s) => resolve(readAll(s))));
  const s = client.openStream();
  await pipeline(
    (async function* () {
      for (let i = 0; i < data.length; i += 65536) yield data.subarray(i, i + 65536);
    })(),
    s,
  );
  assert.ok((await got).equals(data));
  await close();
});

test('end() half-closes: the peer reads to the end and can still write back', async () => {
  const { client, server, close } = sessionPair();
  server.on('stream', async (s) => {
    const req = await readAll(s);
    assert.equal(s.state, 'remoteClose');
    s.end(`got ${req.length} bytes`);
  });
  const s = client.openStream();
  s.end(Buffer.alloc(1000));
  assert.equal((await readAll(s)).toString(), 'got 1000 bytes');
  await whenClosed(s);
  assert.equal(s.state, 'closed');
  await close();
});

test('closed streams leave the session table on both sides', async () => {
  const { client, server, close } = sessionPair();
  server.on('stream', (s) => s.pipe(s));
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      const s = client.openStream();
      s.end('x');
      await readAll(s);
      await whenClosed(s);
    }),
  );
  assert.equal(client.numStreams, 0);
  // the server's side closes when its FIN goes out after the echo
  await new Promise((r) => setImmediate(r));
  assert.equal(server.numStreams, 0);
  await close();
});

test('destroy() sends RST and the peer stream errors with StreamResetError', async () => {
  const { client, server, close } = sessionPair();
  const accepted = server.acceptStream();
  const s = client.openStream();
  s.write('x');
  const remote = await accepted;
  const err = once(remote, 'error');
  s.destroy();
  const [e] = await err;
  assert.ok(e instanceof StreamResetError);
  assert.equal(e.code, 'PLUGWIRE_MUX_STREAM_RESET');
  assert.equal(remote.state, 'reset');
  assert.equal(server.numStreams, 0);
  assert.equal(client.numStreams, 0);
  await close();
});

test('the SYN rides on the first data frame of a new stream', async () => {
  const { session, peer } = rawPair('client');
  const s = session.openStream();
  s.write('hello');
  const f = await peer.waitFor((f) => f.streamId === 1);
  assert.equal(f.type, FrameType.Data);
  assert.equal(f.flags, Flag.SYN);
  assert.equal(f.payload.toString(), 'hello');
  session.destroy();
});

test('a stream opened without writing sends a bare SYN window update on the next tick', async () => {
  const { session, peer } = rawPair('client');
  session.openStream();
  const f = await peer.waitFor((f) => f.streamId === 1);
  assert.deepEqual([f.type, f.flags, f.length], [FrameType.WindowUpdate, Flag.SYN, 0]);
  session.destroy();
});

test('an accepted stream is acknowledged at once with an ACK window update', async () => {
  const { session, peer } = rawPair('server');
  peer.send(FrameType.WindowUpdate, Flag.SYN, 1, 0);
  await session.acceptStream();
  const f = await peer.waitFor((f) => f.streamId === 1);
  assert.deepEqual([f.type, f.flags, f.length], [FrameType.WindowUpdate, Flag.ACK, 0]);
  session.destroy();
});

test('data carried in the SYN frame is delivered, and FIN in the same frame ends the stream', async () => {
  const { session, peer } = rawPair('server');
  peer.send(FrameType.Data, Flag.SYN | Flag.FIN, 1, Buffer.from('all in one'));
  const s = await session.acceptStream();
  assert.equal((await readAll(s)).toString(), 'all in one');
  session.destroy();
});

test('flags are bits: ACK|FIN on one window update both establishes and half-closes', async () => {
  const { session, peer } = rawPair('client');
  const s = session.openStream();
  s.write('q');
  await peer.waitFor((f) => f.streamId === 1);
  peer.send(FrameType.WindowUpdate, Flag.ACK | Flag.FIN, 1, 0);
  s.resume();
  await once(s, 'end');
  assert.equal(s.state, 'remoteClose');
  session.destroy();
});

test('a larger window is announced in the SYN and the ACK', async () => {
  const big = 1024 * 1024;
  const { session, peer } = rawPair('client', { maxStreamWindowSize: big });
  session.openStream();
  const syn = await peer.waitFor((f) => f.streamId === 1);
  assert.deepEqual(
    [syn.type, syn.flags, syn.length],
    [FrameType.WindowUpdate, Flag.SYN, big - INITIAL_STREAM_WINDOW],
  );
  peer.send(FrameType.WindowUpdate, Flag.SYN, 2, 0);
  await session.acceptStream();
  const ack = await peer.waitFor((f) => f.streamId === 2);
  assert.deepEqual([ack.flags, ack.length], [Flag.ACK, big - INITIAL_STREAM_WINDOW]);
  session.destroy();
});

test('a larger window lets the peer send more than 256 KiB before any window update', async () => {
  const big = 1024 * 1024;
  const { client, server, close } = sessionPair({ maxStreamWindowSize: big });
  const accepted = server.acceptStream();
  const s = client.openStream();
  const remote = await accepted;
  remote.write(Buffer.alloc(big)); // goes out in one frame: the client announced 1 MiB
  let received = 0;
  s.on('data', (c: Buffer) => {
    received += c.length;
  });
  while (received < big) await once(s, 'data');
  assert.equal(received, big);
  await close();
});

test('the sender never exceeds the window: write() returns false and drain follows', async () => {
  const { client, server, close } = sessionPair();
  const accepted = server.acceptStream();
  const s = client.openStream();
  const remote = await accepted; // nobody reads it
  const results: boolean[] = [];
  for (let i = 0; i < 16; i++) results.push(s.write(Buffer.alloc(64 * 1024)));
  assert.equal(results.at(-1), false);
  // let everything that can move move
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  // the receiver holds at most one window plus its readable buffer
  assert.ok(
    remote.readableLength <= INITIAL_STREAM_WINDOW,
    `receiver buffered ${remote.readableLength}`,
  );
  assert.ok(
    s.writableLength >= 1024 * 1024 - INITIAL_STREAM_WINDOW,
    'the rest waits on the sender',
  );
  const drained = once(s, 'drain');
  remote.resume();
  await drained;
  await close();
});

test('writes queued behind a closed window go out in window-sized frames, in order, large ones uncopied', async () => {
  const { session, peer } = rawPair('client');
  const arrived: Buffer[] = [];
  peer.conn.on('data', (c: Buffer) => arrived.push(c));
  const s = session.openStream();
  const first = Buffer.alloc(INITIAL_STREAM_WINDOW, 1);
  s.write(first); // takes the whole window
  const queued = [
    Buffer.from('a'),
    Buffer.alloc(100_000, 2),
    Buffer.from('bc'),
    Buffer.alloc(3000, 3),
    Buffer.alloc(70_000, 4),
    Buffer.from('d'),
  ];
  for (const b of queued) s.write(b);
  await peer.waitFor((f) => f.streamId === 1 && f.length === INITIAL_STREAM_WINDOW);
  const credits = [50_000, 100_000, 30_000, 200_000];
  for (const c of credits) {
    peer.send(FrameType.WindowUpdate, Flag.ACK, 1, c);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  }
  const data = peer.frames.filter((f) => f.type === FrameType.Data && f.streamId === 1);
  // every frame fits the credit the peer had given when it was sent
  let credit = INITIAL_STREAM_WINDOW;
  let sent = 0;
  let ci = 0;
  for (const f of data) {
    while (sent + f.length > credit && ci < credits.length) credit += credits[ci++]!;
    assert.ok(sent + f.length <= credit, `frame of ${f.length} bytes beyond the window`);
    sent += f.length;
  }
  const total = queued.reduce((n, b) => n + b.length, 0);
  assert.equal(sent, INITIAL_STREAM_WINDOW + total);
  assert.ok(
    Buffer.concat(data.map((f) => f.payload)).equals(Buffer.concat([first, ...queued])),
    'the bytes arrive in order',
  );
  assert.ok(data.length < 2 + queued.length, `queued writes share frames (${data.length} frames)`);
  // a large queued chunk reaches the connection as the very bytes written, not a copy
  const big = queued[4]!;
  assert.ok(
    arrived.some((c) => c.buffer === big.buffer && c.byteOffset >= big.byteOffset),
    'the 70 000-byte chunk was copied',
  );
  session.destroy();
});

test('a slow reader keeps memory bounded while 32 MiB go through', async () => {
  const { client, server, close } = sessionPair();
  const accepted = server.acceptStream();
  const s = client.openStream();
  const remote = await accepted;
  const total = 32 * 1024 * 1024;
  let maxBuffered = 0;
  const writer = (async () => {
    const chunk = Buffer.alloc(64 * 1024);
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!s.write(chunk)) await once(s, 'drain');
    }
    s.end();
  })();
  let got = 0;
  // read in small bites, with a pause between them
  remote.pause();
  for await (const c of remote.iterator({ destroyOnReturn: true })) {
    got += (c as Buffer).length;
    maxBuffered = Math.max(maxBuffered, remote.readableLength);
    if (got % (4 * 1024 * 1024) < 65536) await new Promise((r) => setImmediate(r));
  }
  await writer;
  assert.equal(got, total);
  assert.ok(maxBuffered <= INITIAL_STREAM_WINDOW + 64 * 1024, `max buffered ${maxBuffered}`);
  await close();
});

test('a reader that takes small bites on "readable" gets every byte, past many windows', async () => {
  const { client, server, close } = sessionPair();
  const accepted = server.acceptStream();
  const s = client.openStream();
  const remote = await accepted;
  const total = 2 * 1024 * 1024;
  const sent = Buffer.alloc(total);
  for (let i = 0; i < total; i++) sent[i] = (i * 7 + (i >> 11)) & 0xff;
  (async () => {
    for (let off = 0; off < total; ) {
      const n = Math.min(1 + ((off * 31) % 70_000), total - off);
      if (!s.write(sent.subarray(off, off + n))) await once(s, 'drain');
      off += n;
    }
    s.end();
  })();
  const got: Buffer[] = [];
  let pauses = 0;
  remote.on('readable', () => {
    for (let b = remote.read(1000); b !== null; b = remote.read(1000)) got.push(b);
    if (remote.readableLength > 0 && remote.readableEnded === false) {
      const rest = remote.read(); // what is left below 1000 bytes
      if (rest) got.push(rest);
    }
    if (++pauses % 50 === 0) {
      remote.pause();
      setTimeout(() => remote.resume(), 1);
    }
  });
  await once(remote, 'end');
  assert.ok(Buffer.concat(got).equals(sent), 'the bytes arrive intact and in order');
  await close();
});

test('window updates are sent once half the window has been read, not on arrival', async () => {
  const { session, peer } = rawPair('server');
  peer.send(FrameType.WindowUpdate, Flag.SYN, 1, 0);
  const s = await session.acceptStream();
  s.pause();
  peer.send(FrameType.Data, 0, 1, Buffer.alloc(100 * 1024));
  peer.send(FrameType.Data, 0, 1, Buffer.alloc(100 * 1024));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  const updates = () =>
    peer.frames.filter(
      (f) => f.type === FrameType.WindowUpdate && f.streamId === 1 && f.flags === 0,
    );
  assert.equal(updates().length, 0, 'no credit before the application reads');
  s.read(); // the application takes the buffered bytes
  s.resume();
  const u = await peer.waitFor(
    (f) => f.type === FrameType.WindowUpdate && f.streamId === 1 && f.flags === 0,
  );
  assert.equal(u.length, 200 * 1024);
  session.destroy();
});

test('a peer that sends beyond the window gets GoAway(protocol error) and the session closes', async () => {
  const { session, peer } = rawPair('server');
  peer.send(FrameType.WindowUpdate, Flag.SYN, 1, 0);
  const s = await session.acceptStream();
  s.on('error', () => {});
  peer.send(FrameType.Data, 0, 1, Buffer.alloc(INITIAL_STREAM_WINDOW));
  peer.send(FrameType.Data, 0, 1, Buffer.alloc(1));
  const [err] = await once(session, 'close');
  assert.ok(err instanceof ProtocolError);
  assert.match(err.message, /window/);
  const g = await peer.waitFor((f) => f.type === FrameType.GoAway);
  assert.equal(g.length, GoAwayCode.ProtocolError);
});

test('a window update that overflows 2^32 is a protocol error', async () => {
  const { session, peer } = rawPair('client');
  const s = session.openStream();
  s.on('error', () => {});
  s.write('x');
  peer.send(FrameType.WindowUpdate, Flag.ACK, 1, 0xffff_ffff);
  const [err] = await once(session, 'close');
  assert.ok(err instanceof ProtocolError);
});

test('data for an unknown stream is read and discarded; the session goes on', async () => {
  const { session, peer } = rawPair('server');
  peer.send(FrameType.Data, 0, 99, Buffer.alloc(1000, 1));
  peer.send(FrameType.Data, Flag.SYN, 1, Buffer.from('after'));
  peer.send(FrameType.WindowUpdate, Flag.FIN, 1, 0);
  const s = await session.acceptStream();
  assert.equal((await readAll(s)).toString(), 'after');
  assert.equal(session.state, 'open');
  session.destroy();
});

test('ping measures the round trip and the peer answers pings with ACK and the same value', async () => {
  const { client, close } = sessionPair();
  const rtt = await client.ping();
  assert.ok(rtt >= 0 && rtt < 1000);
  await close();
  const { session, peer } = rawPair('server');
  peer.send(FrameType.Ping, Flag.SYN, 0, 0xdeadbeef);
  const pong = await peer.waitFor((f) => f.type === FrameType.Ping);
  assert.deepEqual([pong.flags, pong.length], [Flag.ACK, 0xdeadbeef]);
  session.destroy();
});

test('a ping the peer never answers fails with PingTimeoutError', async () => {
  const { session } = rawPair('client', { connectionWriteTimeout: 50 });
  await assert.rejects(session.ping(), PingTimeoutError);
  session.destroy();
});

test('keepalive closes a session whose peer stopped answering pings', async () => {
  const { session, peer } = rawPair('client', {
    enableKeepAlive: true,
    keepAliveInterval: 20,
    connectionWriteTimeout: 60,
  });
  // The keepalive timer does not hold the process open (a socket would); this does.
  const hold = setTimeout(() => {}, 5000);
  const [err] = await once(session, 'close');
  clearTimeout(hold);
  assert.ok(err instanceof KeepAliveTimeoutError);
  assert.ok(peer.frames.some((f) => f.type === FrameType.Ping && f.flags === Flag.SYN));
});

test('keepalive pings keep a healthy idle session open', async () => {
  const { client, server, close } = sessionPair({
    enableKeepAlive: true,
    keepAliveInterval: 10,
    connectionWriteTimeout: 500,
  });
  let pings = 0;
  const orig = client.ping.bind(client);
  client.ping = () => {
    pings++;
    return orig();
  };
  while (pings < 5) await new Promise((r) => setTimeout(r, 10));
  assert.equal(client.state, 'open');
  assert.equal(server.state, 'open');
  await close();
});

test('after the peer sends GoAway(normal), opening fails but existing streams finish', async () => {
  const { client, server, close } = sessionPair();
  const accepted = server.acceptStream();
  const s = client.openStream();
  s.write('before');
  const remote = await accepted;
  const goaway = once(client, 'goaway');
  server.goAway();
  assert.deepEqual(await goaway, [0]);
  assert.throws(() => client.openStream(), RemoteGoAwayError);
  remote.end('still works');
  s.end();
  assert.equal((await readAll(s)).toString(), 'still works');
  await close();
});

test('a stream opened after our GoAway is reset', async () => {
  const { session, peer } = rawPair('server');
  session.goAway();
  peer.send(FrameType.WindowUpdate, Flag.SYN, 1, 0);
  const rst = await peer.waitFor((f) => f.streamId === 1);
  assert.equal(rst.flags, Flag.RST);
  session.destroy();
});

test('GoAway with protocol or internal error closes the session with RemoteGoAwayError', async () => {
  for (const code of [1, 2]) {
    const { session, peer } = rawPair('client');
    peer.send(FrameType.GoAway, 0, 0, code);
    const [err] = await once(session, 'close');
    assert.ok(err instanceof RemoteGoAwayError);
    assert.equal(err.reason, code);
  }
});

test('close() waits for open streams, then ends the connection; destroy() does not wait', async () => {
  const { client, server } = sessionPair();
  server.on('stream', (s) => s.pipe(s));
  const s = client.openStream();
  s.write('a');
  const closing = client.close();
  assert.equal(client.state, 'closing');
  assert.throws(() => client.openStream(), SessionClosedError);
  s.end('b');
  assert.equal((await readAll(s)).toString(), 'ab');
  await closing;
  assert.equal(client.state, 'closed');
  await server.closed;
});

test('losing the connection errors open streams with SessionClosedError and rejects pings and accepts', async () => {
  const { client, server } = sessionPair();
  const s = client.openStream();
  s.write('x');
  const errored = once(s, 'error');
  const accepting = client.acceptStream();
  server.destroy();
  const [e] = await errored;
  assert.ok(e instanceof SessionClosedError);
  await assert.rejects(accepting, SessionClosedError);
  await assert.rejects(client.ping(), SessionClosedError);
  assert.equal(client.numStreams, 0);
});

test('data the peer finished sending stays readable when the connection closes right after', async () => {
  const { session, peer } = rawPair('server');
  peer.send(FrameType.Data, Flag.SYN, 1, Buffer.from('last words'));
  peer.send(FrameType.WindowUpdate, Flag.FIN, 1, 0);
  const s = await session.acceptStream();
  peer.conn.destroy();
  await session.closed;
  assert.equal((await readAll(s)).toString(), 'last words');
});

test('streams beyond the accept backlog are reset', async () => {
  const { session, peer } = rawPair('server', { acceptBacklog: 2 });
  for (const id of [1, 3, 5]) peer.send(FrameType.WindowUpdate, Flag.SYN, id, 0);
  const rst = await peer.waitFor((f) => (f.flags & Flag.RST) !== 0);
  assert.equal(rst.streamId, 5);
  assert.equal((await session.acceptStream()).id, 1);
  assert.equal((await session.acceptStream()).id, 3);
  session.destroy();
});

test('a SYN for an id of our own parity, or a duplicate SYN, is a protocol error', async () => {
  for (const [role, ids] of [
    ['server', [2]],
    ['client', [1]],
    ['server', [1, 1]],
  ] as const) {
    const { session, peer } = rawPair(role);
    for (const id of ids) peer.send(FrameType.WindowUpdate, Flag.SYN, id, 0);
    const [err] = await once(session, 'close');
    assert.ok(err instanceof ProtocolError, `${role} ${ids}`);
    assert.equal(
      (await peer.waitFor((f) => f.type === FrameType.GoAway)).length,
      GoAwayCode.ProtocolError,
    );
  }
});

test('a connection that stops taking writes closes the session with WriteTimeoutError', async () => {
  const stuck = new Duplex({ read() {}, write() {}, writableHighWaterMark: 16 }); // never calls back
  const session = new Session(stuck, 'client', {
    enableKeepAlive: false,
    connectionWriteTimeout: 50,
  });
  const s = session.openStream();
  s.on('error', () => {});
  s.write(Buffer.alloc(1024));
  const [err] = await once(session, 'close');
  assert.ok(err instanceof WriteTimeoutError);
  assert.equal(err.code, 'PLUGWIRE_MUX_WRITE_TIMEOUT');
});

test('a connection that takes writes slowly but steadily is not timed out', async () => {
  // Each write completes 15 ms after the last: 'drain' comes only when all ~40 are done,
  // long after the 300 ms timeout, but the connection was never stuck.
  let busy = Promise.resolve();
  const slow = new Duplex({
    read() {},
    write(_chunk, _e, cb) {
      busy = busy.then(() => new Promise((r) => setTimeout(r, 15))).then(() => cb());
    },
    writableHighWaterMark: 16,
  });
  const session = new Session(slow, 'client', {
    enableKeepAlive: false,
    connectionWriteTimeout: 300,
    maxPendingOpens: 100,
  });
  const written = Array.from({ length: 20 }, () => {
    const s = session.openStream();
    s.on('error', () => {});
    return new Promise<void>((resolve, reject) =>
      s.write(Buffer.alloc(1024), (err) => (err ? reject(err) : resolve())),
    );
  });
  await Promise.all(written);
  assert.equal(session.state, 'open', `closed: ${session.closeError}`);
  session.destroy();
});

test('writes finish on a connection that takes every write at once (no drain ever comes)', async () => {
  // A socket whose kernel buffer has room completes writes synchronously; write() then
  // returns true however large the chunk, and no 'drain' follows. Writers held back
  // because a tick gathered more than the high-water mark must still be let go.
  let written = 0;
  const conn = new Duplex({
    read() {},
    write(chunk: Buffer, _e, cb) {
      written += chunk.length;
      cb();
    },
  });
  const n = 2000;
  // Nobody acknowledges these opens: let them all send at once.
  const session = new Session(conn, 'client', { enableKeepAlive: false, maxPendingOpens: n });
  const finished = Array.from({ length: n }, () => {
    const s = session.openStream();
    s.on('error', () => {});
    s.write(Buffer.alloc(100));
    s.write(Buffer.alloc(100)); // queued behind the first when that one waits
    s.end();
    return once(s, 'finish');
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('writers were left waiting')), 2000);
  });
  try {
    await Promise.race([Promise.all(finished), timeout]);
  } finally {
    clearTimeout(timer);
  }
  assert.ok(written >= n * 200);
  session.destroy();
});

test("the session turns Nagle's algorithm off on a connection that has it (TCP)", () => {
  const calls: unknown[] = [];
  const conn = Object.assign(new Duplex({ read() {}, write: (_c, _e, cb) => cb() }), {
    setNoDelay: (on: boolean) => calls.push(on),
  });
  const session = new Session(conn, 'client', { enableKeepAlive: false });
  assert.deepEqual(calls, [true]);
  session.destroy();
});

test('10 000 concurrent streams open, echo and close on one session', async () => {
  const { client, server, close } = sessionPair({ acceptBacklog: 10_000 });
  server.on('stream', (s) => s.pipe(s));
  const n = 10_000;
  const results = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const s = client.openStream();
      s.end(`m${i}`);
      return (await readAll(s)).toString() === `m${i}`;
    }),
  );
  assert.equal(results.filter(Boolean).length, n);
  await new Promise((r) => setImmediate(r));
  assert.equal(client.numStreams, 0);
  await close();
});
