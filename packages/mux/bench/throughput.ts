// Throughput and latency of @plugwire/mux between two Node processes over a unix socket,
// against the raw socket it runs on (and HashiCorp's yamux, when Go is installed).
//
//   node --import tsx packages/mux/bench/throughput.ts [options]
//
// The parent process (this file) starts one long-lived child (this file again, `--peer`),
// which listens on a unix socket; every case dials a fresh connection (and, for mux cases,
// runs a fresh session over it), so no case inherits another's state. Cases run
// interleaved — A B C … A B C … — for `--rounds` rounds after `--warmup` discarded ones,
// and each is reported as the median with min–max, plus the CPU time both processes
// spent on it (user+sys; less noisy than wall time on a shared machine).
//
// Options:
//   --rounds N        measured rounds (default 5)
//   --warmup N        discarded rounds first (default 1)
//   --only a,b        run only the cases whose name contains one of these
//   --dist            load the compiled dist/ (run `npx tsc -b packages/mux` first)
//                     instead of src/ through tsx
//   --mux DIR         load the mux from DIR/index.ts (or .js) instead, e.g. a copy of an
//                     older src/ to compare against (DIR needs `debug` resolvable)
//   --vs DIR          A/B: also run every mux case with the mux from DIR (a second child
//                     loads it too), right after its twin; the report adds the ratios
//   --no-go           skip the Go cases even when Go is installed
//   --json FILE       also write the raw samples as JSON
//   --size MiB        bulk transfer size (default 256)
//   --msg BYTES       size of the messages of the ping-pong, 64-in-flight and 10k cases
//                     (default 40: a small JSON-RPC request)
//   --tcp             loopback TCP between the Node processes instead of a unix socket
//   --nodelay         with --tcp: TCP_NODELAY on both ends (Nagle off)
//   --window KiB      maxStreamWindowSize of every session, Node and Go (default 256)
//   --peer-args "…"   extra node flags for the child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
//
// Cases (P = this process, C = the child):
//   raw/mux bulk P→C, C→P   256 MiB in 64 KiB writes, one stream; MiB/s
//   raw/mux ping-pong       a 40-byte message echoed, one in flight; round trips/s
//                           (message cases stop after 3 s if they are not done by then)
//   raw/mux 64 in flight    40-byte messages echoed, 64 in flight (mux: on 64 streams, one
//                           each; raw: one socket, each message its own write(), and
//                           "corked": the writes made in one 'data' event go out as one);
//                           msgs/s
//   mux 10k streams         10 000 streams opened at once, 40 bytes echoed on each, then all
//                           closed; total ms
//   go …                    the Go yamux peer (test/go/yamuxpeer) as the other process:
//                           Go→Node and Node→Go, raw and yamux; and Go↔Go in one process

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Duplex, Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Mux from '../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
/** A JSON-RPC request of the size plugwire's `add(1,2)` sends (or `--msg` bytes). */
const MSG = ((): Buffer => {
  const json = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"add"}\n');
  const size = Number(arg('--msg') ?? json.length);
  return size === json.length ? json : Buffer.alloc(size, 'x');
})();
const HERE = fileURLToPath(import.meta.url);
/** Suffix of the cases run with the `--vs` mux. */
const VS = ' ·vs';
const GO_PEER_SRC = fileURLToPath(new URL('../test/go/yamuxpeer/main.go', import.meta.url));
const GOPATH = '/usr/share/gocode';

// ---- options ------------------------------------------------------------------------------

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string): boolean => process.argv.includes(name);

const opts = {
  rounds: Number(arg('--rounds') ?? 5),
  warmup: Number(arg('--warmup') ?? 1),
  only: arg('--only')?.split(',') ?? [],
  dist: flag('--dist'),
  mux: arg('--mux'),
  vs: arg('--vs'),
  go: !flag('--no-go'),
  json: arg('--json'),
  size: Number(arg('--size') ?? 256) * MiB,
  window: Number(arg('--window') ?? 256) * KiB,
  tcp: flag('--tcp'),
  noDelay: flag('--nodelay'),
  peerArgs: arg('--peer-args')?.split(' ').filter(Boolean) ?? [],
  pingPongs: 20_000,
  inFlightMsgs: 64_000,
  /** Message cases stop early after this long (a loaded machine makes round trips slow). */
  capMs: 3000,
  streams: 10_000,
};

async function loadMux(dir = opts.mux): Promise<typeof Mux> {
  // Both resolve under tsx: src/*.js names map to the .ts sources, dist/ is plain JS.
  const url = dir
    ? pathToFileURL(join(dir, 'index.js')).href
    : opts.dist
      ? '../dist/index.js'
      : '../src/index.js';
  return (await import(url)) as typeof Mux;
}

// ---- helpers shared by both processes ---------------------------------------------------------

/** Writes `total` bytes by repeating `block` in 64 KiB writes, honouring backpressure. */
function writeRepeated(w: Writable, block: Buffer, total: number, done: () => void): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const off = sent % block.length;
      const n = Math.min(CHUNK, block.length - off, total - sent);
      sent += n;
      if (!w.write(block.subarray(off, off + n))) {
        w.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

/** Counts a readable's bytes to its end. */
function countToEnd(r: Readable): Promise<number> {
  let n = 0;
  r.on('data', (c: Buffer) => {
    n += c.length;
  });
  return new Promise((resolve, reject) => {
    r.once('end', () => resolve(n));
    r.once('error', reject);
  });
}

/** Reads a readable to its end as text. */
function readText(r: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  r.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    r.once('end', () => resolve(Buffer.concat(chunks).toString()));
    r.once('error', reject);
  });
}

function benchBlock(): Buffer {
  // Random-ish, deterministic; the content does not matter, only that it is not all zeroes.
  const b = Buffer.allocUnsafe(MiB);
  let x = 0x12345678;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x | 0, i);
  }
  return b;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ---- the child: a Node peer ---------------------------------------------------------------------

type PeerMode = 'raw-sink' | 'raw-source' | 'raw-echo' | 'mux-sink' | 'mux-source' | 'mux-echo';

type ToPeer = { type: 'mode'; mode: PeerMode; size: number } | { type: 'cpu' };
type FromPeer = { type: 'ready'; port?: number } | { type: 'ok' } | { type: 'cpu'; ms: number };

async function peerMain(sockPath: string): Promise<void> {
  const mux = await loadMux();
  const block = benchBlock();
  let mode: PeerMode = 'raw-echo';
  let size = 0;
  const send = (m: FromPeer): void => {
    process.send!(m);
  };
  const server = createServer({ allowHalfOpen: true, noDelay: opts.noDelay }, (sock) => {
    sock.on('error', () => {});
    switch (mode) {
      case 'raw-sink':
        countToEnd(sock).then((n) => sock.end(String(n)));
        return;
      case 'raw-source':
        sock.resume();
        writeRepeated(sock, block, size, () => sock.end());
        return;
      case 'raw-echo':
        sock.pipe(sock);
        return;
    }
    const session = mux.createServerSession(sock, {
      enableKeepAlive: false,
      maxStreamWindowSize: opts.window,
      name: 'peer',
    });
    session.on('close', () => sock.destroy());
    session.on('stream', (s) => {
      s.on('error', () => {}); // the parent destroys sessions when a case is over
      switch (mode) {
        case 'mux-sink':
          countToEnd(s).then((n) => s.end(String(n)));
          break;
        case 'mux-source':
          s.resume();
          writeRepeated(s, block, size, () => s.end());
          break;
        default:
          s.pipe(s);
      }
    });
  });
  if (opts.tcp) {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      send({ type: 'ready', port: typeof a === 'object' && a ? a.port : 0 });
    });
  } else {
    server.listen(sockPath, () => send({ type: 'ready' }));
  }
  process.on('message', (m: ToPeer) => {
    if (m.type === 'mode') {
      mode = m.mode;
      size = m.size;
      send({ type: 'ok' });
    } else {
      send({ type: 'cpu', ms: cpuMs() });
    }
  });
  process.on('disconnect', () => {
    server.close();
    process.exit(0);
  });
}

// ---- the parent ---------------------------------------------------------------------------------

class NodePeer {
  readonly child: ChildProcess;
  readonly sock: string;
  #replies: Array<(m: FromPeer) => void> = [];
  /** The child's first message, once it listens. */
  readonly ready: Promise<FromPeer>;

  constructor(sock: string, execArgv: string[], muxDir: string | undefined) {
    this.sock = sock;
    const args = [...execArgv, HERE, '--peer', sock, ...forwarded(muxDir)];
    this.child = spawn(process.execPath, args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: FromPeer) => this.#replies.shift()?.(m));
    this.ready = this.next();
  }

  next(): Promise<FromPeer> {
    return new Promise((resolve) => this.#replies.push(resolve));
  }

  async request(m: ToPeer): Promise<FromPeer> {
    const reply = this.next();
    this.child.send(m);
    return reply;
  }

  async mode(mode: PeerMode, size = 0): Promise<void> {
    await this.request({ type: 'mode', mode, size });
  }

  async cpu(): Promise<number> {
    const r = await this.request({ type: 'cpu' });
    return r.type === 'cpu' ? r.ms : Number.NaN;
  }

  /** The child's TCP port, with --tcp. */
  port = 0;

  async dial(): Promise<Socket> {
    const s = this.port
      ? connect({ port: this.port, host: '127.0.0.1', allowHalfOpen: true, noDelay: opts.noDelay })
      : connect({ path: this.sock, allowHalfOpen: true });
    await once(s, 'connect');
    return s;
  }
}

/** Flags the child must share with the parent. */
function forwarded(muxDir: string | undefined): string[] {
  return [
    ...(opts.tcp ? ['--tcp'] : []),
    ...(opts.noDelay ? ['--nodelay'] : []),
    ...(opts.dist ? ['--dist'] : []),
    ...(muxDir ? ['--mux', muxDir] : []),
    '--window',
    String(opts.window / KiB),
  ];
}

interface Sample {
  value: number;
  cpuParent: number;
  cpuChild: number;
}

interface Case {
  name: string;
  unit: 'MiB/s' | 'rt/s' | 'msg/s' | 'ms';
  /** Higher is better, except for times. */
  run: () => Promise<Sample>;
}

async function measure(
  peer: NodePeer | null,
  fn: () => Promise<number>,
): Promise<{ value: number; cpuParent: number; cpuChild: number }> {
  const c0 = peer ? await peer.cpu() : 0;
  const p0 = cpuMs();
  const value = await fn();
  const p1 = cpuMs();
  const c1 = peer ? await peer.cpu() : 0;
  return { value, cpuParent: p1 - p0, cpuChild: c1 - c0 };
}

function mibs(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

async function closeSession(session: Mux.Session, sock: Socket): Promise<void> {
  session.destroy();
  await session.closed;
  if (!sock.destroyed) sock.destroy();
}

function nodeCases(mux: typeof Mux, peer: NodePeer, block: Buffer, suffix = ''): Case[] {
  const size = opts.size;
  const sessionOpts = { enableKeepAlive: false, maxStreamWindowSize: opts.window, name: 'bench' };

  const rawSend = async (): Promise<number> => {
    await peer.mode('raw-sink');
    const sock = await peer.dial();
    const start = performance.now();
    const reply = readText(sock);
    writeRepeated(sock, block, size, () => sock.end());
    const n = Number(await reply);
    const ms = performance.now() - start;
    if (n !== size) throw new Error(`raw P→C: the peer got ${n} bytes`);
    sock.destroy();
    return mibs(size, ms);
  };

  const rawRecv = async (): Promise<number> => {
    await peer.mode('raw-source', size);
    const sock = await peer.dial();
    const start = performance.now();
    const n = await countToEnd(sock);
    const ms = performance.now() - start;
    if (n !== size) throw new Error(`raw C→P: got ${n} bytes`);
    sock.destroy();
    return mibs(size, ms);
  };

  const muxSend = async (): Promise<number> => {
    await peer.mode('mux-sink');
    const sock = await peer.dial();
    const session = mux.createClientSession(sock, sessionOpts);
    const start = performance.now();
    const s = session.openStream();
    const reply = readText(s);
    writeRepeated(s, block, size, () => s.end());
    const n = Number(await reply);
    const ms = performance.now() - start;
    if (n !== size) throw new Error(`mux P→C: the peer got ${n} bytes`);
    await closeSession(session, sock);
    return mibs(size, ms);
  };

  const muxRecv = async (): Promise<number> => {
    await peer.mode('mux-source', size);
    const sock = await peer.dial();
    const session = mux.createClientSession(sock, sessionOpts);
    const start = performance.now();
    const s = session.openStream();
    s.end();
    const n = await countToEnd(s);
    const ms = performance.now() - start;
    if (n !== size) throw new Error(`mux C→P: got ${n} bytes`);
    await closeSession(session, sock);
    return mibs(size, ms);
  };

  /** `count` round trips of MSG, one in flight, on `d`; resolves with round trips/s. */
  const pingPong = (d: Duplex, count: number): Promise<number> =>
    new Promise((resolve, reject) => {
      let done = 0;
      let got = 0;
      const start = performance.now();
      const onData = (c: Buffer): void => {
        got += c.length;
        if (got < MSG.length) return;
        if (got > MSG.length) reject(new Error('ping-pong: more than one message came back'));
        got = 0;
        ++done;
        const ms = performance.now() - start;
        if (done === count || (done % 256 === 0 && ms > opts.capMs)) {
          d.off('data', onData);
          resolve(done / (ms / 1000));
        } else {
          d.write(MSG);
        }
      };
      d.on('data', onData);
      d.once('error', reject);
      d.write(MSG);
    });

  const rawPingPong = async (): Promise<number> => {
    await peer.mode('raw-echo');
    const sock = await peer.dial();
    const r = await pingPong(sock, opts.pingPongs);
    sock.destroy();
    return r;
  };

  const muxPingPong = async (): Promise<number> => {
    await peer.mode('mux-echo');
    const sock = await peer.dial();
    const session = mux.createClientSession(sock, sessionOpts);
    const s = session.openStream();
    const r = await pingPong(s, opts.pingPongs);
    await closeSession(session, sock);
    return r;
  };

  /** 64 in flight on one raw socket; `cork`: the writes of one 'data' event go as one. */
  const rawInFlight = async (cork: boolean): Promise<number> => {
    await peer.mode('raw-echo');
    const sock = await peer.dial();
    const total = opts.inFlightMsgs;
    const r = await new Promise<number>((resolve, reject) => {
      let sent = 0;
      let bytes = 0;
      const start = performance.now();
      let last = total;
      sock.on('data', (c: Buffer) => {
        bytes += c.length;
        const done = Math.floor(bytes / MSG.length);
        const ms = performance.now() - start;
        if (ms > opts.capMs) last = Math.min(last, sent);
        if (cork) sock.cork();
        while (sent < last && sent - done < 64) {
          sock.write(MSG);
          sent++;
        }
        if (cork) sock.uncork();
        if (done === last) resolve(done / (ms / 1000));
      });
      sock.once('error', reject);
      for (; sent < 64; sent++) sock.write(MSG);
    });
    sock.destroy();
    return r;
  };

  const muxInFlight = async (): Promise<number> => {
    await peer.mode('mux-echo');
    const sock = await peer.dial();
    const session = mux.createClientSession(sock, sessionOpts);
    const total = opts.inFlightMsgs;
    const r = await new Promise<number>((resolve, reject) => {
      let sent = 0;
      let done = 0;
      let last = total;
      const start = performance.now();
      for (let i = 0; i < 64; i++) {
        const s = session.openStream();
        let got = 0;
        s.on('data', (c: Buffer) => {
          got += c.length;
          while (got >= MSG.length) {
            got -= MSG.length;
            const ms = performance.now() - start;
            if (ms > opts.capMs) last = Math.min(last, sent);
            if (++done === last) resolve(done / (ms / 1000));
            if (sent < last) {
              sent++;
              s.write(MSG);
            }
          }
        });
        s.once('error', reject);
        sent++;
        s.write(MSG);
      }
    });
    await closeSession(session, sock);
    return r;
  };

  const manyStreams = async (): Promise<number> => {
    await peer.mode('mux-echo');
    const sock = await peer.dial();
    const session = mux.createClientSession(sock, sessionOpts);
    const n = opts.streams;
    const start = performance.now();
    const streams: Mux.Stream[] = [];
    const echoed: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const s = session.openStream();
      streams.push(s);
      echoed.push(
        new Promise((resolve, reject) => {
          let got = 0;
          s.on('data', (c: Buffer) => {
            got += c.length;
            if (got === MSG.length) resolve();
          });
          s.once('error', reject);
        }),
      );
      s.write(MSG);
    }
    await Promise.all(echoed); // all 10 000 are open on both sides here
    if (session.numStreams !== n) throw new Error(`${session.numStreams} streams open, want ${n}`);
    const closed = streams.map((s) => once(s, 'close'));
    for (const s of streams) s.end();
    await Promise.all(closed);
    const ms = performance.now() - start;
    if (session.numStreams !== 0) throw new Error(`${session.numStreams} streams left`);
    await closeSession(session, sock);
    return ms;
  };

  const c = (name: string, unit: Case['unit'], fn: () => Promise<number>): Case => ({
    name: name + suffix,
    unit,
    run: () => measure(peer, fn),
  });
  return [
    c('raw bulk P→C', 'MiB/s', rawSend),
    c('mux bulk P→C', 'MiB/s', muxSend),
    c('raw bulk C→P', 'MiB/s', rawRecv),
    c('mux bulk C→P', 'MiB/s', muxRecv),
    c('raw ping-pong', 'rt/s', rawPingPong),
    c('mux ping-pong', 'rt/s', muxPingPong),
    c('raw 64 in flight', 'msg/s', () => rawInFlight(false)),
    c('raw 64 in flight, corked', 'msg/s', () => rawInFlight(true)),
    c('mux 64 in flight', 'msg/s', muxInFlight),
    c('mux 10k streams', 'ms', manyStreams),
  ];
}

// ---- Go -----------------------------------------------------------------------------------------

function buildGoPeer(dir: string): string | undefined {
  const v = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) return undefined;
  if (!existsSync(`${GOPATH}/src/github.com/hashicorp/yamux`)) return undefined;
  const bin = join(dir, 'yamuxpeer');
  execFileSync('go', ['build', '-o', bin, GO_PEER_SRC], {
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: `${GOPATH}:${join(dir, 'gopath')}`,
      GOCACHE: process.env.GOCACHE || join(dir, 'gocache'),
      GOFLAGS: '',
      CGO_ENABLED: '0',
    },
    stdio: 'inherit',
  });
  return bin;
}

function goCases(mux: typeof Mux, bin: string, dir: string, block: Buffer, suffix = ''): Case[] {
  const size = opts.size;
  let seq = 0;

  /** Starts the Go peer on `scenario` and takes its one connection. */
  const start = async (scenario: string): Promise<{ child: ChildProcess; conn: Socket }> => {
    const sock = join(dir, `go${++seq}.sock`);
    const server: Server = createServer({ allowHalfOpen: true });
    server.listen(sock);
    await once(server, 'listening');
    const child = spawn(
      bin,
      [`-sock=${sock}`, '-role=server', `-size=${size}`, `-window=${opts.window}`, scenario],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child.stdout!.resume();
    const [conn] = (await once(server, 'connection')) as [Socket];
    server.close();
    return { child, conn };
  };

  const finish = async (child: ChildProcess): Promise<void> => {
    if (child.exitCode === null) await once(child, 'exit');
    if (child.exitCode !== 0) throw new Error(`yamuxpeer exited with ${child.exitCode}`);
  };

  const goToNodeRaw = async (): Promise<number> => {
    const { child, conn } = await start('raw-source');
    const t0 = performance.now();
    const n = await countToEnd(conn);
    const ms = performance.now() - t0;
    if (n !== size) throw new Error(`Go→Node raw: got ${n}`);
    conn.destroy();
    await finish(child);
    return mibs(size, ms);
  };

  const nodeToGoRaw = async (): Promise<number> => {
    const { child, conn } = await start('raw-sink');
    const t0 = performance.now();
    const reply = readText(conn);
    writeRepeated(conn, block, size, () => conn.end());
    const n = Number(await reply);
    const ms = performance.now() - t0;
    if (n !== size) throw new Error(`Node→Go raw: the peer got ${n}`);
    conn.destroy();
    await finish(child);
    return mibs(size, ms);
  };

  const goToNodeMux = async (): Promise<number> => {
    const { child, conn } = await start('bench-send');
    const session = mux.createClientSession(conn, {
      enableKeepAlive: false,
      maxStreamWindowSize: opts.window,
    });
    const s = await session.acceptStream();
    const t0 = performance.now();
    const n = await countToEnd(s);
    const ms = performance.now() - t0;
    if (n !== size) throw new Error(`Go→Node yamux: got ${n}`);
    s.end();
    await session.close();
    await finish(child);
    return mibs(size, ms);
  };

  const nodeToGoMux = async (): Promise<number> => {
    const { child, conn } = await start('bench-recv');
    const session = mux.createClientSession(conn, {
      enableKeepAlive: false,
      maxStreamWindowSize: opts.window,
    });
    const t0 = performance.now();
    const s = session.openStream();
    const reply = readText(s);
    writeRepeated(s, block, size, () => s.end());
    const n = Number(await reply);
    const ms = performance.now() - t0;
    if (n !== size) throw new Error(`Node→Go yamux: the peer got ${n}`);
    await session.close();
    await finish(child);
    return mibs(size, ms);
  };

  // Go ↔ Go in one process (goroutines on both cores): yamux, then raw.
  let lastLocal: Record<string, number> = {};
  const goLocal = async (mode: 'yamux' | 'raw'): Promise<number> => {
    if (mode === 'yamux') {
      const child = spawn(bin, [`-size=${size}`, `-window=${opts.window}`, 'bench-local'], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, TMPDIR: dir },
      });
      lastLocal = {};
      for await (const line of createInterface({ input: child.stdout! })) {
        const [m, bytes, ns] = line.split(' ');
        if (m === 'yamux' || m === 'raw') lastLocal[m] = mibs(Number(bytes), Number(ns) / 1e6);
      }
      await finish(child);
    }
    return lastLocal[mode] ?? Number.NaN;
  };

  const c = (name: string, fn: () => Promise<number>): Case => ({
    name: name + suffix,
    unit: 'MiB/s',
    run: () => measure(null, fn),
  });
  return [
    c('go  raw bulk Go→Node', goToNodeRaw),
    c('go  mux bulk Go→Node', goToNodeMux),
    c('go  raw bulk Node→Go', nodeToGoRaw),
    c('go  mux bulk Node→Go', nodeToGoMux),
    c('go  yamux Go↔Go (1 process)', () => goLocal('yamux')),
    c('go  raw Go↔Go (1 process)', () => goLocal('raw')),
  ];
}

// ---- report -------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '-';
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function report(cases: Case[], samples: Map<string, Sample[]>): void {
  const rows: string[][] = [['case', 'unit', 'median', 'min–max', 'cpu P ms', 'cpu C ms']];
  for (const c of cases) {
    const s = samples.get(c.name) ?? [];
    if (s.length === 0) continue;
    const v = s.map((x) => x.value);
    rows.push([
      c.name,
      c.unit,
      fmt(median(v)),
      `${fmt(Math.min(...v))}–${fmt(Math.max(...v))}`,
      fmt(median(s.map((x) => x.cpuParent))),
      c.name.startsWith('go') ? '-' : fmt(median(s.map((x) => x.cpuChild))),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) {
    console.log(
      r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '),
    );
  }
  const ratio = (a: string, b: string): string => {
    const x = samples.get(a);
    const y = samples.get(b);
    if (!x?.length || !y?.length) return '-';
    return (median(x.map((s) => s.value)) / median(y.map((s) => s.value))).toFixed(2);
  };
  if (opts.vs) {
    console.log(`\nA/B, this mux against ${opts.vs} (> 1: this one is better)`);
    const cpu = (name: string): number => {
      const x = samples.get(name) ?? [];
      return median(x.map((s) => s.cpuParent + s.cpuChild));
    };
    for (const c of cases.filter((c) => c.name.endsWith(VS))) {
      const a = c.name.slice(0, -VS.length);
      const r = Number(ratio(a, c.name));
      console.log(
        `  ${a.padEnd(20)} ${c.unit === 'ms' ? '1/time' : c.unit} ${(c.unit === 'ms' ? 1 / r : r).toFixed(2)}, ` +
          `CPU ${(cpu(c.name) / cpu(a)).toFixed(2)}`,
      );
    }
  }
  console.log(
    `\nmux/raw: bulk P→C ${ratio('mux bulk P→C', 'raw bulk P→C')}, bulk C→P ${ratio('mux bulk C→P', 'raw bulk C→P')}, ` +
      `ping-pong ${ratio('mux ping-pong', 'raw ping-pong')}, 64 in flight ${ratio('mux 64 in flight', 'raw 64 in flight')}`,
  );
  if (samples.has('go  mux bulk Go→Node')) {
    console.log(
      `go: mux/raw Go→Node ${ratio('go  mux bulk Go→Node', 'go  raw bulk Go→Node')}, Node→Go ${ratio('go  mux bulk Node→Go', 'go  raw bulk Node→Go')}; ` +
        `Node↔Node mux P→C / Go↔Go yamux ${ratio('mux bulk P→C', 'go  yamux Go↔Go (1 process)')}`,
    );
  }
}

async function main(): Promise<void> {
  const mux = await loadMux();
  const dir = mkdtempSync(join(tmpdir(), 'plugwire-mux-bench-'));
  const tsx = import.meta.resolve('tsx');
  const execArgv = [...(HERE.endsWith('.ts') ? ['--import', tsx] : []), ...opts.peerArgs];
  const peers = [new NodePeer(join(dir, 'peer.sock'), execArgv, opts.mux)];
  if (opts.vs) peers.push(new NodePeer(join(dir, 'vs.sock'), execArgv, opts.vs));
  const peer = peers[0]!;
  try {
    for (const p of peers) {
      const ready = await p.ready;
      if (ready.type !== 'ready') throw new Error('the peer did not start');
      p.port = ready.port ?? 0;
    }
    const block = benchBlock();
    let cases = nodeCases(mux, peer, block);
    if (opts.vs) {
      const twins = nodeCases(await loadMux(opts.vs), peers[1]!, block, VS);
      cases = cases.flatMap((c) => [
        c,
        ...twins.filter((t) => t.name === c.name + VS && c.name.startsWith('mux')),
      ]);
    }
    const bin = opts.go ? buildGoPeer(dir) : undefined;
    if (bin) {
      const go = goCases(mux, bin, dir, block);
      const twins = opts.vs ? goCases(await loadMux(opts.vs), bin, dir, block, VS) : [];
      cases.push(
        ...go.flatMap((c) => [
          c,
          ...twins.filter((t) => t.name === c.name + VS && c.name.includes(' mux ')),
        ]),
      );
    }
    if (opts.only.length) cases = cases.filter((c) => opts.only.some((o) => c.name.includes(o)));

    console.log(
      `@plugwire/mux bench: node ${process.version}, ${opts.mux ?? (opts.dist ? 'dist' : 'src via tsx')}, ` +
        `${opts.rounds} rounds after ${opts.warmup} warm-up, ${opts.size / MiB} MiB bulk` +
        (bin ? ', Go peer built' : ', no Go') +
        `; load average ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')}`,
    );
    const samples = new Map<string, Sample[]>();
    for (let round = 0; round < opts.warmup + opts.rounds; round++) {
      const line: string[] = [];
      for (const c of cases) {
        const s = await c.run();
        line.push(`${c.name.trim()} ${fmt(s.value)}`);
        if (round < opts.warmup) continue;
        const list = samples.get(c.name) ?? [];
        list.push(s);
        samples.set(c.name, list);
      }
      console.error(
        `${round < opts.warmup ? 'warm-up' : `round ${round - opts.warmup + 1}`}: ${line.join(', ')}`,
      );
    }
    console.log(
      `\nload average at the end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}\n`,
    );
    report(cases, samples);
    if (opts.json) {
      writeFileSync(opts.json, JSON.stringify(Object.fromEntries(samples), null, 2));
    }
  } finally {
    for (const p of peers) {
      p.child.disconnect();
      await once(p.child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (flag('--peer')) {
  await peerMain(arg('--peer')!);
} else {
  await main();
}
