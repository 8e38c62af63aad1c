// Test helpers: in-memory and socket connections between two peers, and a raw end that
// speaks frames directly (to send what a well-behaved peer never would).

import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Codec } from '../src/codec.js';
import { jsonCodec } from '../src/codecs/json.js';
import type { RpcPeerOptions } from '../src/config.js';
import { encodeFrame, FrameDecoder } from '../src/framing.js';
import { RpcPeer } from '../src/peer.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Bytes of ArrayBuffer memory still reachable, after a full GC. Buffers live outside the V8
 * heap (heapUsed misses them) and untouched pages are not resident (RSS misses an eager
 * allocation nobody wrote to): this is the measure that sees them.
 */
export function liveArrayBuffers(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

/**
 * How many bytes of buffers are live beyond `base`, once freed ones have left the count:
 * V8 frees the memory of dead ArrayBuffers on a background thread, which a loaded machine
 * may run late, so a reading at or over `bound` is taken again (a few times, 25 ms apart)
 * before it counts. Memory that is really held never drops under the bound.
 */
export async function settledGrowth(base: number, bound: number): Promise<number> {
  let grown = liveArrayBuffers() - base;
  for (let i = 0; i < 20 && grown >= bound; i++) {
    await new Promise((r) => setTimeout(r, 25));
    grown = Math.min(grown, liveArrayBuffers() - base);
  }
  return grown;
}

/**
 * Two connected in-memory Duplex ends that behave like the two ends of a socket where it
 * matters to a peer: a write completes only once the other end's reader wants more (so
 * `write()` returns false and 'drain' follows, as with a full socket buffer); end() is a
 * clean end of the other side's readable side; destroy() is not: the other end sees the
 * connection go away ('close' without 'end'). Delivery is on the next tick, as with a socket.
 */
export function duplexPair(options: { highWaterMark?: number } = {}): [Duplex, Duplex] {
  const hwm = options.highWaterMark ?? 16 * 1024;
  const a = new PairEnd(hwm);
  const b = new PairEnd(hwm);
  a.other = b;
  b.other = a;
  return [a, b];
}

class PairEnd extends Duplex {
  other!: PairEnd;
  /** The write waiting for the other end's reader to want more. */
  blocked: (() => void) | null = null;

  constructor(hwm: number) {
    super({ highWaterMark: hwm, allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    process.nextTick(() => {
      const other = this.other;
      if (other.destroyed) {
        cb(new Error('the other end of the pair is gone'));
        return;
      }
      if (other.readableEnded || other.push(chunk)) cb();
      else other.blocked = () => cb();
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    process.nextTick(() => {
      if (!this.other.destroyed) this.other.push(null);
      cb();
    });
  }

  override _read(): void {
    const blocked = this.blocked;
    this.blocked = null;
    blocked?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const other = this.other;
    if (!other.destroyed) process.nextTick(() => other.destroy());
    const blocked = this.blocked;
    this.blocked = null;
    blocked?.();
    cb(err);
  }
}

/** Two peers over an in-memory pair. */
export function peerPair(
  options: RpcPeerOptions = {},
  remoteOptions: RpcPeerOptions = options,
): [RpcPeer, RpcPeer] {
  const [a, b] = duplexPair();
  return [
    new RpcPeer(a, { name: 'a', ...options }),
    new RpcPeer(b, { name: 'b', ...remoteOptions }),
  ];
}

/** Closes peers and waits until each has emitted 'close'. */
export async function closeAll(...peers: RpcPeer[]): Promise<void> {
  await Promise.all(
    peers.map(async (p) => {
      const closed = p.closed ? undefined : once(p, 'close');
      await p.close();
      await closed;
    }),
  );
}

/**
 * The other end of a peer, at the frame level: sends raw frames or bytes and collects the
 * decoded messages the peer sends back.
 */
export class RawEnd {
  readonly stream: Duplex;
  readonly codec: Codec;
  readonly received: unknown[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];
  ended = false;
  constructor(stream: Duplex, codec: Codec = jsonCodec) {
    this.stream = stream;
    this.codec = codec;
    const decoder = new FrameDecoder(2 ** 32 - 1, (bytes, start, end) => {
      this.received.push(codec.decode(Buffer.from(bytes.subarray(start, end))));
      this.wake();
    });
    stream.on('data', (chunk: Buffer) => decoder.push(chunk));
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('error', () => {});
  }
  /** Sends a value encoded with the codec, in one frame. */
  send(value: unknown): void {
    this.stream.write(encodeFrame(this.codec.encode(value)));
  }
  /** Sends text (JSON) as one frame, as it is. */
  sendText(text: string): void {
    this.stream.write(encodeFrame(Buffer.from(text)));
  }
  sendBytes(bytes: Uint8Array): void {
    this.stream.write(bytes);
  }
  /** Resolves when `count` messages have been received in total (or the stream ended). */
  async waitFor(count: number): Promise<unknown[]> {
    if (this.received.length < count && !this.ended) {
      await new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
    }
    return this.received;
  }
  /** The next message after the ones already consumed via next(). */
  private consumed = 0;
  async next(): Promise<unknown> {
    await this.waitFor(this.consumed + 1);
    if (this.received.length <= this.consumed) throw new Error('stream ended');
    return this.received[this.consumed++];
  }
  private wake(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.received.length >= w.count || this.ended) {
        w.resolve();
        return false;
      }
      return true;
    });
  }
}

/** A peer under test and a RawEnd talking to it. */
export function peerAndRaw(options: RpcPeerOptions = {}): [RpcPeer, RawEnd] {
  const [a, b] = duplexPair();
  const codec = options.codec ?? jsonCodec;
  return [new RpcPeer(a, { name: 'peer', codec, ...options }), new RawEnd(b, codec)];
}

function countResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo())
    counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

const baseline = countResources();
const TRANSIENT = new Set(['Immediate', 'FSReqCallback', 'FSReqPromise', 'CloseReq']);

/**
 * Asserts that nothing the tests started is still running: no timer, socket, server or
 * other handle beyond those the process had when this module was loaded. Use in after().
 */
export async function assertNoLeaks(): Promise<void> {
  // Handles closed by the last test are released on the next turns of the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  const leaked: string[] = [];
  for (const [type, n] of countResources()) {
    const extra = n - (baseline.get(type) ?? 0);
    // fs requests (FSReqCallback, FSReqPromise, CloseReq) are the runner's and the loader's:
    // Node 24 still has some in flight when the last after() hook runs.
    if (extra > 0 && !TRANSIENT.has(type)) leaked.push(`${extra} ${type}`);
  }
  if (leaked.length > 0) throw new Error(`left running after the tests: ${leaked.join(', ')}`);
}

let socketCounter = 0;

/** Two sockets connected over a unix socket; `cleanup` closes the server and removes the path. */
export async function socketPair(): Promise<{
  a: Socket;
  b: Socket;
  cleanup: () => Promise<void>;
}> {
  const path = join(tmpdir(), `plugwire-rpc-test-${process.pid}-${socketCounter++}.sock`);
  rmSync(path, { force: true });
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const a = connect(path);
  const connected = once(a, 'connect');
  const [b] = (await accepted) as [Socket];
  await connected;
  return {
    a,
    b,
    cleanup: async () => {
      a.destroy();
      b.destroy();
      server.close();
      await once(server, 'close');
      rmSync(path, { force: true });
    },
  };
}
