// CPU cost of @plugwire/mux's own send and receive paths, in one process, without a socket:
// a session writes into a connection that takes everything at once (send cases), or is fed
// frames encoded beforehand, in 64 KiB chunks as a socket would deliver them (receive
// cases). No scheduler, no syscalls: what is left is the mux and Node's stream machinery,
// so the numbers move little on a busy machine (CPU time is measured, not wall time).
//
//   node --import tsx packages/mux/bench/micro.ts [--rounds N] [--only a,b] [--vs DIR]
//        [--msg BYTES]
//
// CPU time is the main thread's (from /proc/thread-self/schedstat on Linux), so neither other
// processes nor V8's background GC threads count; scavenges on the main thread do.
//
// --vs DIR runs every case also with the mux from DIR/index.ts (e.g. an older copy of
// src/), interleaved, and prints the ratios (> 1: this one is cheaper).

import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { encodeFrame } from '../src/frame.js';
import type * as Mux from '../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const rounds = Number(arg('--rounds') ?? 7);
const only = arg('--only')?.split(',') ?? [];
const vs = arg('--vs');
const msgSize = Number(arg('--msg') ?? 40);

/** A connection that takes every write at once and keeps nothing. */
class Sink extends Duplex {
  written = 0;
  writes = 0;
  override _read(): void {}
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.written += chunk.length;
    this.writes++;
    cb();
  }
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: () => void): void {
    for (const c of chunks) this.written += c.chunk.length;
    this.writes++;
    cb();
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * CPU time of this thread in ms: /proc/thread-self/schedstat (ns, Linux) where there is one,
 * so that V8's background threads and other processes do not count; else the process's.
 */
function cpu(): number {
  if (schedstat) return Number(readFileSync(schedstat, 'utf8').split(' ')[0]) / 1e6;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
const schedstat = existsSync('/proc/thread-self/schedstat') ? '/proc/thread-self/schedstat' : '';

type Case = { name: string; unit: string; per: number; run: (mux: typeof Mux) => Promise<void> };

const MSG = Buffer.alloc(msgSize, 0x61);
const SMALL_ROUNDS = 12_000; // ticks of 64 messages
const BULK = 1024 * MiB; // a few ms of CPU: enough runs of the scheduler clock behind schedstat

let smallWireCache: Buffer | undefined;
/** SMALL_ROUNDS rounds of one small frame on each of 64 streams (the first ones with SYN). */
function smallWire(): Buffer {
  if (!smallWireCache) {
    const frames: Buffer[] = [];
    for (let i = 0; i < 64; i++) frames.push(encodeFrame(0, 1, 2 * i + 1, MSG));
    for (let r = 1; r < SMALL_ROUNDS; r++) {
      for (let i = 0; i < 64; i++) frames.push(encodeFrame(0, 0, 2 * i + 1, MSG));
    }
    smallWireCache = Buffer.concat(frames);
  }
  return smallWireCache;
}

const SOCK_MSGS = 64_000;

/** Two sessions over a real unix socket in this process. */
async function socketPair(
  mux: typeof Mux,
): Promise<{ client: Mux.Session; server: Mux.Session; done: () => Promise<void> }> {
  const path = join(tmpdir(), `plugwire-micro-${process.pid}.sock`);
  rmSync(path, { force: true });
  const listener = createServer();
  listener.listen(path);
  await once(listener, 'listening');
  const dialed = connect(path);
  const [accepted] = (await once(listener, 'connection')) as [Socket];
  listener.close();
  const opts = { enableKeepAlive: false };
  const client = mux.createClientSession(dialed, opts);
  const server = mux.createServerSession(accepted, opts);
  return {
    client,
    server,
    done: async () => {
      client.destroy();
      server.destroy();
      await Promise.all([client.closed, server.closed]);
      rmSync(path, { force: true });
    },
  };
}

const SOCK_BULK = 256 * MiB;

const cases: Case[] = [
  {
    // One stream, 64 KiB writes, read with for await (paused mode: Readable's buffer and
    // its high-water mark matter here, unlike with 'data' listeners).
    name: 'sock bulk, for await',
    unit: 'ns/64KiB',
    per: SOCK_BULK / (64 * KiB),
    async run(mux) {
      const { client, server, done } = await socketPair(mux);
      const accepted = server.acceptStream();
      const s = client.openStream();
      const block = Buffer.alloc(MiB, 3);
      const writing = new Promise<void>((resolve) => {
        let sent = 0;
        const pump = (): void => {
          while (sent < SOCK_BULK) {
            const off = sent % block.length;
            sent += 64 * KiB;
            if (!s.write(block.subarray(off, off + 64 * KiB))) {
              s.once('drain', pump);
              return;
            }
          }
          resolve();
        };
        pump();
      });
      const r = await accepted;
      let got = 0;
      for await (const c of r.iterator({ destroyOnReturn: false })) {
        got += (c as Buffer).length;
        if (got === SOCK_BULK) break;
      }
      await writing;
      if (got !== SOCK_BULK) throw new Error(`sock bulk: got ${got}`);
      await done();
    },
  },
  {
    // Both sessions in this process over a real unix socket: echo with 64 messages in
    // flight on 64 streams. The CPU of both ends and of the socket calls, without a second
    // process to wait for (so without the scheduler's noise).
    name: `sock echo ${msgSize} B ×64`,
    unit: 'ns/msg',
    per: SOCK_MSGS,
    async run(mux) {
      const path = join(tmpdir(), `plugwire-micro-${process.pid}.sock`);
      rmSync(path, { force: true });
      const server = createServer();
      server.listen(path);
      await once(server, 'listening');
      const dialed = connect(path);
      const [accepted] = (await once(server, 'connection')) as [Socket];
      server.close();
      const opts = { enableKeepAlive: false };
      const client = mux.createClientSession(dialed, opts);
      const echo = mux.createServerSession(accepted, opts);
      echo.on('stream', (s) => s.on('data', (c: Buffer) => s.write(c)));
      await new Promise<void>((resolve) => {
        let sent = 0;
        let done = 0;
        for (let i = 0; i < 64; i++) {
          const s = client.openStream();
          let got = 0;
          s.on('data', (c: Buffer) => {
            got += c.length;
            while (got >= msgSize) {
              got -= msgSize;
              if (++done === SOCK_MSGS) resolve();
              if (sent < SOCK_MSGS) {
                sent++;
                s.write(MSG);
              }
            }
          });
          sent++;
          s.write(MSG);
        }
      });
      client.destroy();
      echo.destroy();
      await Promise.all([client.closed, echo.closed]);
      rmSync(path, { force: true });
    },
  },
  {
    // 64 streams each write one small message per tick (64 in flight, as in RPC).
    name: `send ${msgSize} B ×64 streams`,
    unit: 'ns/msg',
    per: 64 * SMALL_ROUNDS,
    async run(mux) {
      const conn = new Sink();
      const session = mux.createClientSession(conn, { enableKeepAlive: false });
      const streams = Array.from({ length: 64 }, () => session.openStream());
      for (const s of streams) credit(conn, s.id, 64 * SMALL_ROUNDS * msgSize);
      await tick();
      for (let r = 0; r < SMALL_ROUNDS; r++) {
        for (const s of streams) s.write(MSG);
        await new Promise<void>((resolve) => process.nextTick(resolve));
      }
      await tick();
      if (conn.written < 64 * SMALL_ROUNDS * msgSize) throw new Error('send small: short');
      session.destroy();
    },
  },
  {
    name: `recv ${msgSize} B ×64 streams`,
    unit: 'ns/msg',
    per: 64 * SMALL_ROUNDS,
    async run(mux) {
      const conn = new Sink();
      const session = mux.createServerSession(conn, { enableKeepAlive: false });
      let got = 0;
      session.on('stream', (s) => {
        s.on('data', (c: Buffer) => {
          got += c.length;
        });
      });
      await feed(conn, smallWire());
      if (got !== 64 * SMALL_ROUNDS * msgSize) throw new Error(`recv small: got ${got}`);
      session.destroy();
    },
  },
  {
    name: 'send 64 KiB writes',
    unit: 'ns/64KiB',
    per: BULK / (64 * KiB),
    async run(mux) {
      const conn = new Sink();
      const session = mux.createClientSession(conn, { enableKeepAlive: false });
      const s = session.openStream();
      credit(conn, s.id, BULK);
      await tick();
      const block = Buffer.alloc(MiB, 1);
      await new Promise<void>((resolve) => {
        let sent = 0;
        const pump = (): void => {
          while (sent < BULK) {
            const off = sent % block.length;
            sent += 64 * KiB;
            if (!s.write(block.subarray(off, off + 64 * KiB))) {
              s.once('drain', pump);
              return;
            }
          }
          resolve();
        };
        pump();
      });
      await tick();
      if (conn.written < BULK) throw new Error(`send bulk: wrote ${conn.written}`);
      session.destroy();
    },
  },
  {
    name: 'recv 64 KiB frames',
    unit: 'ns/64KiB',
    per: BULK / (64 * KiB),
    async run(mux) {
      const conn = new Sink();
      const session = mux.createServerSession(conn, { enableKeepAlive: false });
      let got = 0;
      session.on('stream', (s) => {
        s.on('data', (c: Buffer) => {
          got += c.length;
        });
      });
      const { first, rest, n } = bulkWire();
      for (let fed = 0; fed < BULK; fed += n * 64 * KiB) {
        await feed(conn, fed === 0 ? first : rest);
      }
      if (got !== BULK) throw new Error(`recv bulk: got ${got} of ${BULK}`);
      session.destroy();
    },
  },
];

const BULK_WIRE = (() => {
  const payload = Buffer.alloc(64 * KiB, 2);
  const n = 16;
  const first = Buffer.concat([
    encodeFrame(0, 1, 1, payload),
    ...Array.from({ length: n - 1 }, () => encodeFrame(0, 0, 1, payload)),
  ]);
  const rest = Buffer.concat(Array.from({ length: n }, () => encodeFrame(0, 0, 1, payload)));
  return { first, rest, n };
})();
function bulkWire(): typeof BULK_WIRE {
  return BULK_WIRE;
}

/** The peer's credit for stream `id`: a window update (with ACK) of `n` bytes. */
function credit(conn: Duplex, id: number, n: number): void {
  const h = Buffer.alloc(12);
  h.writeUInt8(1, 1);
  h.writeUInt16BE(2, 2);
  h.writeUInt32BE(id, 4);
  h.writeUInt32BE(Math.min(n, 0xffff_ffff - 256 * KiB), 8);
  conn.push(h);
}

/** Feeds `wire` to the session in 64 KiB reads, as a socket would (frames straddle reads). */
async function feed(conn: Duplex, wire: Buffer): Promise<void> {
  for (let off = 0, i = 1; off < wire.length; off += 64 * KiB, i++) {
    conn.push(wire.subarray(off, off + 64 * KiB));
    if (i % 3 === 0) await tick(); // the stream starts flowing only after a tick
  }
  await tick();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function load(dir?: string): Promise<typeof Mux> {
  const url = dir ? pathToFileURL(join(dir, 'index.js')).href : '../src/index.js';
  return (await import(url)) as typeof Mux;
}

const muxes: Array<[string, typeof Mux]> = [['this', await load()]];
if (vs) muxes.push(['vs', await load(vs)]);
const selected = cases.filter((c) => !only.length || only.some((o) => c.name.includes(o)));
const results = new Map<string, number[]>();
for (let r = -1; r < rounds; r++) {
  for (const c of selected) {
    for (const [label, mux] of muxes) {
      const c0 = cpu();
      await c.run(mux);
      const ms = cpu() - c0;
      if (r < 0) continue; // warm-up
      const k = `${c.name}|${label}`;
      results.set(k, [...(results.get(k) ?? []), (ms * 1e6) / c.per]);
    }
  }
}
console.log(
  `@plugwire/mux micro: node ${process.version}, ${rounds} rounds, ` +
    `${schedstat ? 'main-thread' : 'process'} CPU time per unit; ` +
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
for (const c of selected) {
  const line = [c.name.padEnd(26)];
  for (const [label] of muxes) {
    const v = results.get(`${c.name}|${label}`)!;
    line.push(
      `${label} ${median(v).toFixed(0).padStart(6)} ${c.unit} (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`,
    );
  }
  if (vs) {
    const a = median(results.get(`${c.name}|this`)!);
    const b = median(results.get(`${c.name}|vs`)!);
    line.push(`vs/this ${(b / a).toFixed(2)}`);
  }
  console.log(line.join('  '));
}
