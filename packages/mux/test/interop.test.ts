// Interop with HashiCorp's yamux (Go), in both roles, over a real unix socket.
//
// A small Go program (test/go/yamuxpeer) is built once for this file, from Debian's Go
// and yamux sources (scripts/ensure-go.mjs installs them in CI), and started once per
// test. The test listens on a unix socket in a temporary directory, the Go peer dials
// it, and the two sides run a yamux session over it: the Go peer in the role the test
// names, @plugwire/mux in the other. Each test plays one scenario; the Go peer checks
// its side and reports through its exit status and stderr, and talks to the test with
// lines on stdout ("sha256 <hex>", "done", ...) and stdin ("accept", "dial <id>").
//
// Without Go this file fails, saying what to install, unless PLUGWIRE_SKIP_GO=1, which
// reports every test as skipped.

import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { after, before, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { goBuild, goSkip, requireGo } from '../../../scripts/go.mjs';
import { checkLeaks } from '../../../test/support/leaks.js';
import { INITIAL_STREAM_WINDOW } from '../src/constants.js';
import {
  createClientSession,
  createServerSession,
  MuxBroker,
  RemoteGoAwayError,
  type Session,
  type SessionOptions,
  StreamResetError,
} from '../src/index.js';
import { readAll, whenClosed } from './helpers.js';

checkLeaks();

const KiB = 1024;
const MiB = 1024 * KiB;
const PEER_SRC = fileURLToPath(new URL('./go/yamuxpeer/main.go', import.meta.url));

// PLUGWIRE_SKIP_GO=1 opts out explicitly (as in scripts/ensure-go.mjs): skipped, never passed.
const skip = goSkip();

let workDir = '';
let peerBin = '';

// Its own deadline: a Go build can take longer than a test's (scripts/test.mjs) under load.
before(
  async () => {
    if (skip) return;
    requireGo();
    workDir = mkdtempSync(join(tmpdir(), 'plugwire-interop-'));
    peerBin = join(workDir, 'yamuxpeer');
    await goBuild({ target: PEER_SRC, out: peerBin, workDir });
  },
  { timeout: 180_000 },
);

after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// ---- the Go peer ------------------------------------------------------------------------

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface PeerOptions {
  /** The Go peer's yamux role; @plugwire/mux takes the other one. */
  goRole?: GoRole;
  /** Extra flags for the Go peer. */
  args?: string[];
  /** No yamux on the Node side: the test uses the raw socket (`conn`). */
  raw?: boolean;
  sessionOptions?: SessionOptions;
}

type GoRole = 'server' | 'client';

let sockets = 0;

/** One running Go peer and the connection (and session) to it. */
class Peer {
  readonly scenario: string;
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<Exit>;
  /** Rejects as soon as the Go peer exits: race it against what a test waits for. */
  readonly #died: Promise<never>;
  #stderr = '';
  readonly #lines: string[] = [];
  #lineWaiters: Array<() => void> = [];
  conn: Socket | undefined;
  #session: Session | undefined;

  constructor(scenario: string, args: string[]) {
    this.scenario = scenario;
    this.child = spawn(peerBin, [...args, scenario], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: workDir }, // whatever it leaves, after() removes
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.#stderr += d;
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.#lines.push(line);
      for (const w of this.#lineWaiters.splice(0)) w();
    });
    this.child.stdin.on('error', () => {}); // the peer may exit without reading it
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => resolve({ code, signal }));
    });
    this.#died = this.exited.then((e) => {
      throw new Error(`the Go peer exited early (${this.describe(e)})`);
    });
    this.#died.catch(() => {});
  }

  /** The yamux session to the peer (not in raw scenarios). */
  get session(): Session {
    assert.ok(this.#session, 'no session: this scenario runs on the raw socket');
    return this.#session;
  }

  set session(session: Session) {
    this.#session = session;
  }

  /** What the Go peer printed to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  describe(e: Exit): string {
    const how = e.signal ? `signal ${e.signal}` : `exit status ${e.code}`;
    return `yamuxpeer ${this.scenario}: ${how}; stderr:\n${this.#stderr || '(empty)'}`;
  }

  /**
   * Waits for `p`, failing at once (with the peer's stderr) if the Go peer exits first.
   * When `p` fails because the Go peer failed (its exit closes the connection, which
   * often arrives first), the error says what the peer said.
   */
  async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await Promise.race([p, this.#died]);
    } catch (err) {
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([
        this.exited,
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), 2000); // only to word the error
        }),
      ]);
      clearTimeout(timer);
      if (exit && exit.code !== 0 && !(err as Error).message.includes('yamuxpeer')) {
        throw new Error(`${(err as Error).message}; ${this.describe(exit)}`, { cause: err });
      }
      throw err;
    }
  }

  /** The next stdout line that starts with `word`, without the word. */
  async line(word: string): Promise<string> {
    for (;;) {
      const i = this.#lines.findIndex((l) => l === word || l.startsWith(`${word} `));
      if (i >= 0) return this.#lines.splice(i, 1)[0]!.slice(word.length + 1);
      await this.guard(new Promise<void>((resolve) => this.#lineWaiters.push(resolve)));
    }
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Closes the session (or socket) from our side; the Go peer must then exit with 0. */
  async finish(): Promise<void> {
    if (this.#session) await this.#session.close();
    else this.conn?.end();
    const e = await this.exited;
    assert.equal(e.code, 0, this.describe(e));
  }

  /** Whatever happened: neither the child nor the connection outlives the test. */
  async dispose(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    await this.exited;
    if (this.#session) {
      this.#session.destroy();
      await this.#session.closed;
    } else {
      this.conn?.destroy();
    }
  }
}

/**
 * Listens on a fresh unix socket, starts the Go peer on `scenario`, takes its connection
 * and runs @plugwire/mux over it in the role opposite to the peer's. Everything is
 * released when the test ends, pass or fail.
 */
async function startPeer(
  t: TestContext,
  scenario: string,
  options: PeerOptions = {},
): Promise<Peer> {
  const goRole = options.goRole ?? 'server';
  const sock = join(workDir, `s${++sockets}.sock`);
  const server = createServer();
  t.after(() => {
    if (server.listening) server.close();
    rmSync(sock, { force: true });
  });
  server.listen(sock);
  await once(server, 'listening');
  const peer = new Peer(scenario, [`-sock=${sock}`, `-role=${goRole}`, ...(options.args ?? [])]);
  t.after(() => peer.dispose());
  const [conn] = (await peer.guard(once(server, 'connection'))) as [Socket];
  server.close(); // one connection is all we take
  peer.conn = conn;
  if (!options.raw) {
    const opts: SessionOptions = { name: 'node', ...options.sessionOptions };
    peer.session =
      goRole === 'client' ? createServerSession(conn, opts) : createClientSession(conn, opts);
  }
  return peer;
}

// ---- helpers ----------------------------------------------------------------------------

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Reads exactly `n` bytes, leaving what follows buffered in the stream. */
async function readExactly(stream: Readable, n: number): Promise<Buffer> {
  for (;;) {
    const b = stream.read(n) as Buffer | null;
    if (b !== null) {
      if (b.length < n) throw new Error(`stream ended after ${b.length} of ${n} bytes`);
      return b;
    }
    if (stream.readableEnded) throw new Error(`stream ended before ${n} bytes`);
    await Promise.race([once(stream, 'readable'), once(stream, 'end')]);
  }
}

/** Writes `data` in 64 KiB writes, waiting for 'drain' when the stream asks for it. */
async function writeChunks(stream: Writable, data: Buffer, chunk = 64 * KiB): Promise<void> {
  for (let off = 0; off < data.length; off += chunk) {
    if (!stream.write(data.subarray(off, off + chunk))) await once(stream, 'drain');
  }
}

/** Writes `total` bytes by repeating `block` in 64 KiB writes. */
async function writeRepeated(stream: Writable, block: Buffer, total: number): Promise<void> {
  const chunk = 64 * KiB;
  for (let sent = 0; sent < total; ) {
    const off = sent % block.length;
    const n = Math.min(chunk, block.length - off, total - sent);
    if (!stream.write(block.subarray(off, off + n))) await once(stream, 'drain');
    sent += n;
  }
}

/** Reads a stream to its end, counting bytes only. */
async function countToEnd(stream: Readable): Promise<number> {
  let n = 0;
  for await (const c of stream.iterator({ destroyOnReturn: false })) n += (c as Buffer).length;
  return n;
}

function rate(bytes: number, ms: number): string {
  return `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s (${bytes / MiB} MiB in ${ms.toFixed(0)} ms)`;
}

const ROLES: Array<{ go: GoRole; label: string }> = [
  { go: 'server', label: 'Go as yamux server' },
  { go: 'client', label: 'Go as yamux client' },
];

/** Every test here: skipped as a whole without Go, generous timeouts for slow CI. */
function interop(name: string, fn: (t: TestContext) => Promise<void>): void {
  test(name, { skip, timeout: 30_000 }, fn);
}

// ---- 1. many concurrent streams ---------------------------------------------------------

for (const { go: goRole, label } of ROLES) {
  interop(
    `Node opens 100 concurrent streams and Go echoes 1 MiB on each, byte for byte (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'echo-server', { goRole, args: ['-n=100', `-size=${MiB}`] });
      await peer.guard(
        Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const sent = randomBytes(MiB);
            const s = peer.session.openStream();
            s.end(sent);
            const back = await readAll(s);
            assert.equal(back.length, sent.length, `stream ${i}: echo length`);
            assert.ok(back.equals(sent), `stream ${i}: the echo differs from what was sent`);
            await whenClosed(s);
          }),
        ),
      );
      assert.equal(peer.session.numStreams, 0);
      await peer.finish();
    },
  );

  interop(
    `Go opens 100 concurrent streams and Node echoes 1 MiB on each; Go checks every byte (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'echo-client', { goRole, args: ['-n=100', `-size=${MiB}`] });
      const errors: Error[] = [];
      let streams = 0;
      peer.session.on('stream', (s) => {
        streams++;
        s.on('error', (err) => errors.push(err));
        s.pipe(s);
      });
      await peer.line('done');
      assert.equal(streams, 100);
      assert.deepEqual(errors, []);
      await peer.finish();
    },
  );
}

// Go's yamux refuses with RST the opens beyond its AcceptBacklog (256) that arrive before
// its application accepts them; @plugwire/mux keeps at most maxPendingOpens (256) opens
// unacknowledged, as Go's OpenStream does, so a burst cannot outrun the backlog.
for (const { go: goRole, label } of ROLES) {
  interop(
    `Node opens 2000 streams in one burst and every one is accepted and echoed by Go (${label})`,
    async (t) => {
      const n = 2000;
      const peer = await startPeer(t, 'echo-server', { goRole, args: [`-n=${n}`, '-size=16'] });
      const resets: number[] = [];
      await peer.guard(
        Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const sent = Buffer.from(`stream ${String(i).padStart(9, '0')}`);
            const s = peer.session.openStream();
            s.on('error', (err) => {
              if (err instanceof StreamResetError) resets.push(s.id);
            });
            s.end(sent);
            const back = await readAll(s).catch(() => Buffer.alloc(0));
            if (resets.length === 0) assert.equal(back.toString(), sent.toString());
          }),
        ),
      );
      assert.deepEqual(resets, [], `${resets.length} of ${n} opens were reset by Go`);
      await peer.finish();
    },
  );
}

// ---- 2, 3. bulk transfers with FIN --------------------------------------------------------

for (const { go: goRole, label } of ROLES) {
  interop(
    `Go opens a stream, pushes 8 MiB and closes: FIN reaches Node with the bytes intact (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'push', { goRole, args: [`-size=${8 * MiB}`] });
      const s = await peer.guard(peer.session.acceptStream());
      const [data, sha] = await peer.guard(Promise.all([readAll(s), peer.line('sha256')]));
      assert.equal(s.state, 'remoteClose');
      assert.equal(data.length, 8 * MiB);
      assert.equal(sha256(data), sha);
      s.end();
      await whenClosed(s);
      await peer.line('done');
      await peer.finish();
    },
  );

  interop(
    `Node pushes 8 MiB to Go and closes: Go reads to EOF and checks the sha256 (${label})`,
    async (t) => {
      const data = randomBytes(8 * MiB);
      const sha = sha256(data);
      const peer = await startPeer(t, 'sink', {
        goRole,
        args: [`-size=${data.length}`, `-sha=${sha}`],
      });
      const s = peer.session.openStream();
      await peer.guard(writeChunks(s, data));
      s.end();
      assert.equal((await peer.guard(readAll(s))).toString(), sha);
      await whenClosed(s);
      await peer.line('done');
      await peer.finish();
    },
  );
}

// ---- 4. half-close ------------------------------------------------------------------------

for (const { go: goRole, label } of ROLES) {
  interop(`Node half-closes its side and still reads Go's reply (${label})`, async (t) => {
    const peer = await startPeer(t, 'halfclose-reply', { goRole });
    const s = peer.session.openStream();
    s.end(randomBytes(100_000));
    await once(s, 'finish');
    assert.equal(s.state, 'localClose');
    assert.equal((await peer.guard(readAll(s))).toString(), 'got 100000 bytes');
    await whenClosed(s);
    assert.equal(s.state, 'closed');
    await peer.line('done');
    await peer.finish();
  });

  interop(`Go half-closes its side and still gets Node's reply (${label})`, async (t) => {
    const peer = await startPeer(t, 'halfclose-request', { goRole, args: ['-size=100000'] });
    const s = await peer.guard(peer.session.acceptStream());
    const req = await peer.guard(readAll(s));
    assert.equal(req.length, 100_000);
    assert.equal(s.state, 'remoteClose');
    s.end(`got ${req.length} bytes`); // writing after the peer's FIN
    await whenClosed(s);
    assert.equal(s.state, 'closed');
    // This yamux version cannot wait for data after its own FIN (see main.go): a second
    // stream tells the Go peer that our reply and FIN are already with it.
    peer.session.openStream().end();
    await peer.line('done');
    await peer.finish();
  });
}

// ---- 5. RST -------------------------------------------------------------------------------

for (const { go: goRole, label } of ROLES) {
  interop(
    `Node resets a stream: Go's blocked Read and Write both fail with ErrConnectionReset (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'reset-by-node', { goRole });
      const s = peer.session.openStream();
      s.write('hello');
      // Go writes 1 MiB into the 256 KiB window that we do not give back, and reads.
      await peer.guard(once(s, 'readable'));
      s.destroy();
      await whenClosed(s);
      assert.equal(s.state, 'reset');
      assert.match(await peer.line('write'), /connection reset/);
      await peer.line('done');
      await peer.finish();
    },
  );

  // Go's yamux of this version has no way for an application to reset a stream: Close
  // sends FIN. It sends RST only to refuse a stream (accept backlog full, or after its own
  // GoAway). The backlog is the deterministic one.
  interop(
    `Go refuses a stream beyond its accept backlog with RST: Node's stream fails with StreamResetError (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'reset-by-go', { goRole, args: ['-backlog=1'] });
      const first = peer.session.openStream();
      first.write('first');
      const second = peer.session.openStream();
      second.write('second');
      const [err] = await peer.guard(once(second, 'error'));
      assert.ok(err instanceof StreamResetError, `got ${err}`);
      assert.equal(err.streamId, second.id);
      await whenClosed(second);
      assert.equal(second.state, 'reset');
      assert.match(peer.stderr, /backlog exceeded/);
      // The first stream waited in the backlog and is fine.
      peer.send('accept');
      first.end();
      assert.equal((await peer.guard(readAll(first))).toString(), 'first');
      await whenClosed(first);
      await peer.line('done');
      await peer.finish();
    },
  );
}

// ---- 6. ping ------------------------------------------------------------------------------

for (const { go: goRole, label } of ROLES) {
  interop(`Go pings Node and Node answers (${label})`, async (t) => {
    const peer = await startPeer(t, 'ping', { goRole });
    for (let i = 0; i < 3; i++) assert.ok(await peer.line('rtt'));
    await peer.line('done');
    await peer.finish();
  });

  interop(`Node pings Go and Go answers (${label})`, async (t) => {
    const peer = await startPeer(t, 'idle', { goRole });
    for (let i = 0; i < 3; i++) {
      const rtt = await peer.guard(peer.session.ping());
      assert.ok(Number.isFinite(rtt) && rtt >= 0, `rtt ${rtt}`);
    }
    await peer.finish();
  });
}

// ---- 7. GoAway ----------------------------------------------------------------------------

for (const { go: goRole, label } of ROLES) {
  interop(
    `Node sends GoAway: Go's OpenStream fails with ErrRemoteGoAway while the open stream still works (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'goaway-recv', { goRole });
      const s = await peer.guard(peer.session.acceptStream());
      assert.equal((await peer.guard(readExactly(s, 5))).toString(), 'hello');
      peer.session.goAway();
      s.write('goaway sent'); // after the GoAway frame on the wire
      assert.equal((await peer.guard(readAll(s))).toString(), 'still works');
      s.end();
      await whenClosed(s);
      await peer.line('done');
      await peer.finish();
    },
  );

  interop(
    `Go sends GoAway: Node's openStream throws RemoteGoAwayError while the open stream finishes (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'goaway-send', { goRole });
      const goaway = once(peer.session, 'goaway');
      const s = peer.session.openStream();
      s.write('hello');
      assert.equal((await peer.guard(readExactly(s, 11))).toString(), 'goaway sent');
      assert.deepEqual(await goaway, [0]);
      assert.throws(() => peer.session.openStream(), RemoteGoAwayError);
      s.end('still works');
      assert.equal((await peer.guard(readAll(s))).length, 0);
      await whenClosed(s);
      await peer.line('done');
      await peer.finish();
    },
  );
}

// ---- 8. go-plugin's MuxBroker -------------------------------------------------------------

for (const { go: goRole, label } of ROLES) {
  interop(
    `Go's MuxBroker dials an id Node's broker accepted; the ack returns and data flows both ways (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'broker-dial', { goRole });
      const broker = new MuxBroker(peer.session, { timeout: 10_000 });
      broker.run();
      const id = broker.nextId();
      const accepted = broker.accept(id);
      peer.send(`dial ${id}`);
      const s = await peer.guard(accepted);
      assert.equal((await peer.guard(readExactly(s, 13))).toString(), 'hello from go');
      s.end('hello from node');
      assert.equal((await peer.guard(readAll(s))).length, 0);
      await whenClosed(s);
      await peer.line('done');
      await peer.finish();
    },
  );

  interop(
    `Node's MuxBroker dials an id Go's MuxBroker accepted; the ack returns and data flows both ways (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'broker-accept', { goRole });
      const broker = new MuxBroker(peer.session, { timeout: 10_000 });
      const id = Number(await peer.line('id'));
      const s = await peer.guard(broker.dial(id));
      s.end('hello from node');
      assert.equal((await peer.guard(readAll(s))).toString(), 'hello from go');
      await whenClosed(s);
      await peer.line('done');
      await peer.finish();
    },
  );
}

// ---- 9. flow control ----------------------------------------------------------------------

for (const { go: goRole, label } of ROLES) {
  interop(
    `Go's writes block while Node does not read, Node holds at most one window, then all 8 MiB arrive (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'flow', {
        goRole,
        args: [`-size=${8 * MiB}`, '-stall=500ms'],
      });
      const s = await peer.guard(peer.session.acceptStream());
      // Nobody reads s. Go writes with a 500 ms deadline, which must expire.
      const blocked = Number(await peer.line('blocked'));
      const bound = INITIAL_STREAM_WINDOW + s.readableHighWaterMark;
      t.diagnostic(`Go's write stopped after ${blocked} bytes (bound ${bound})`);
      assert.ok(blocked > 0 && blocked <= bound, `Go wrote ${blocked} bytes, bound ${bound}`);
      assert.ok(s.readableLength <= s.readableHighWaterMark);
      const [data, sha] = await peer.guard(Promise.all([readAll(s), peer.line('sha256')]));
      assert.equal(data.length, 8 * MiB);
      assert.equal(sha256(data), sha);
      s.end();
      await whenClosed(s);
      await peer.line('done');
      await peer.finish();
    },
  );

  interop(
    `A 1 MiB receive window Node announces lets Go write 1 MiB ahead, and no more (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'flow', {
        goRole,
        args: [`-size=${8 * MiB}`, '-stall=500ms'],
        sessionOptions: { maxStreamWindowSize: MiB },
      });
      const s = await peer.guard(peer.session.acceptStream());
      const blocked = Number(await peer.line('blocked'));
      const bound = MiB + s.readableHighWaterMark;
      t.diagnostic(`Go's write stopped after ${blocked} bytes (bound ${bound})`);
      assert.ok(blocked > INITIAL_STREAM_WINDOW, `Go wrote only ${blocked} bytes`);
      assert.ok(blocked <= bound, `Go wrote ${blocked} bytes, bound ${bound}`);
      const [data, sha] = await peer.guard(Promise.all([readAll(s), peer.line('sha256')]));
      assert.equal(sha256(data), sha);
      s.end();
      await whenClosed(s);
      await peer.line('done');
      await peer.finish();
    },
  );

  interop(
    `With 1 MiB windows on both sides, 4 streams echo 8 MiB each intact (${label})`,
    async (t) => {
      const peer = await startPeer(t, 'echo-server', {
        goRole,
        args: ['-n=4', `-size=${8 * MiB}`, `-window=${MiB}`],
        sessionOptions: { maxStreamWindowSize: MiB },
      });
      await peer.guard(
        Promise.all(
          Array.from({ length: 4 }, async (_, i) => {
            const sent = randomBytes(8 * MiB);
            const s = peer.session.openStream();
            const back = readAll(s);
            await writeChunks(s, sent, 1 * MiB);
            s.end();
            assert.ok((await back).equals(sent), `stream ${i}: the echo differs`);
            await whenClosed(s);
          }),
        ),
      );
      await peer.finish();
    },
  );
}

// ---- throughput (diagnostics, not assertions) ---------------------------------------------

const BENCH = 256 * MiB;

interop('throughput: one stream, 256 MiB Go → Node (diagnostic)', async (t) => {
  const peer = await startPeer(t, 'bench-send', { args: [`-size=${BENCH}`] });
  const s = await peer.guard(peer.session.acceptStream());
  const start = performance.now();
  const n = await peer.guard(countToEnd(s));
  const ms = performance.now() - start;
  assert.equal(n, BENCH);
  t.diagnostic(`Go → Node yamux: ${rate(n, ms)}`);
  s.end();
  await whenClosed(s);
  await peer.line('done');
  await peer.finish();
});

interop('throughput: one stream, 256 MiB Node → Go (diagnostic)', async (t) => {
  const peer = await startPeer(t, 'bench-recv');
  const block = randomBytes(MiB);
  const start = performance.now();
  const s = peer.session.openStream();
  await peer.guard(writeRepeated(s, block, BENCH));
  s.end();
  const reply = (await peer.guard(readAll(s))).toString();
  const ms = performance.now() - start;
  assert.equal(Number(reply), BENCH);
  t.diagnostic(`Node → Go yamux: ${rate(BENCH, ms)}`);
  await whenClosed(s);
  await peer.line('done');
  await peer.finish();
});

interop('throughput: raw unix socket, 256 MiB Go → Node and Node → Go (diagnostic)', async (t) => {
  {
    const peer = await startPeer(t, 'raw-source', { raw: true, args: [`-size=${BENCH}`] });
    const start = performance.now();
    // Not guarded: the peer exits 0 right after its last byte, which may be seen before the
    // socket's end; a peer that dies early ends the socket short, and the count shows it.
    const n = await countToEnd(peer.conn!);
    const ms = performance.now() - start;
    assert.equal(n, BENCH);
    t.diagnostic(`Go → Node raw socket: ${rate(n, ms)}`);
    const e = await peer.exited;
    assert.equal(e.code, 0, peer.describe(e));
  }
  {
    const peer = await startPeer(t, 'raw-sink', { raw: true });
    const block = randomBytes(MiB);
    const start = performance.now();
    await peer.guard(writeRepeated(peer.conn!, block, BENCH));
    peer.conn!.end();
    // Not guarded, for the same reason: the peer exits 0 right after its reply.
    const reply = (await readAll(peer.conn!)).toString();
    const ms = performance.now() - start;
    assert.equal(Number(reply), BENCH);
    t.diagnostic(`Node → Go raw socket: ${rate(BENCH, ms)}`);
    const e = await peer.exited;
    assert.equal(e.code, 0, peer.describe(e));
  }
});

interop('throughput: Go ↔ Go, yamux and raw unix socket, 256 MiB (diagnostic)', async (t) => {
  const child = spawn(peerBin, [`-size=${BENCH}`, 'bench-local'], {
    env: { ...process.env, TMPDIR: workDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const [code] = await once(child, 'close');
  assert.equal(code, 0, `yamuxpeer bench-local: ${err}`);
  for (const line of out.trim().split('\n')) {
    const [mode, bytes, ns] = line.split(' ');
    t.diagnostic(
      `Go → Go ${mode === 'raw' ? 'raw socket' : mode}: ${rate(Number(bytes), Number(ns) / 1e6)}`,
    );
  }
});

interop(
  'throughput: Node ↔ Node yamux over a unix socket, one process, 256 MiB (diagnostic)',
  async (t) => {
    const sock = join(workDir, 'node-node.sock');
    const server = createServer();
    server.listen(sock);
    await once(server, 'listening');
    const dialed = connect(sock);
    const [accepted] = (await once(server, 'connection')) as [Socket];
    server.close();
    const client = createClientSession(dialed, { enableKeepAlive: false });
    const host = createServerSession(accepted, { enableKeepAlive: false });
    t.after(async () => {
      client.destroy();
      host.destroy();
      await Promise.all([client.closed, host.closed]);
      rmSync(sock, { force: true });
    });
    const block = randomBytes(MiB);
    const start = performance.now();
    const s = client.openStream();
    const received = host.acceptStream().then(async (r) => {
      const n = await countToEnd(r);
      r.end();
      return n;
    });
    s.resume(); // s closes only once the host's FIN was read
    await writeRepeated(s, block, BENCH);
    s.end();
    const n = await received;
    const ms = performance.now() - start;
    assert.equal(n, BENCH);
    t.diagnostic(`Node → Node yamux: ${rate(n, ms)}`);
    await whenClosed(s);
    await Promise.all([client.close(), host.close()]);
  },
);
