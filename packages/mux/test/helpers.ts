import { once } from 'node:events';
import type { Duplex, Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { SessionOptions } from '../src/config.js';
import { FrameType, HEADER_SIZE } from '../src/constants.js';
import { FrameDecoder } from '../src/decode.js';
import { encodeFrame, encodeHeader } from '../src/frame.js';
import { duplexPair } from '../src/pair.js';
import { Session } from '../src/session.js';

export { duplexPair };

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

/** A connected client/server session pair over an in-memory duplex pair. */
export function sessionPair(
  clientOptions: SessionOptions = {},
  serverOptions: SessionOptions = clientOptions,
): { client: Session; server: Session; close: () => Promise<void> } {
  const [a, b] = duplexPair();
  const client = new Session(a, 'client', { enableKeepAlive: false, ...clientOptions });
  const server = new Session(b, 'server', { enableKeepAlive: false, ...serverOptions });
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
      await Promise.all([client.closed, server.closed]);
    },
  };
}

export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  length: number;
  payload: Buffer;
}

/**
 * The far end of a connection, speaking raw frames: records every frame it receives and
 * can send anything, valid or not. Lets tests check the exact bytes a session sends.
 */
export class RawPeer {
  readonly frames: RawFrame[] = [];
  readonly conn: Duplex;
  #waiters: Array<{ test: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void }> = [];
  #current: RawFrame | null = null;
  ended = false;

  constructor(conn: Duplex) {
    this.conn = conn;
    const decoder = new FrameDecoder({
      onHeader: (type, flags, streamId, length) => {
        const f: RawFrame = { type, flags, streamId, length, payload: Buffer.alloc(0) };
        if (type === FrameType.Data && length > 0) {
          this.#current = f;
        } else {
          this.#record(f);
        }
      },
      onPayload: (piece) => {
        const f = this.#current!;
        f.payload = Buffer.concat([f.payload, piece]);
        if (f.payload.length === f.length) {
          this.#current = null;
          this.#record(f);
        }
      },
    });
    conn.on('data', (chunk: Buffer) => decoder.push(chunk));
    conn.on('end', () => {
      this.ended = true;
    });
    conn.on('error', () => {});
  }

  #record(f: RawFrame): void {
    this.frames.push(f);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.test(f)) return true;
      w.resolve(f);
      return false;
    });
  }

  /** Resolves with the first frame (already received or to come) that passes `test`. */
  waitFor(test: (f: RawFrame) => boolean): Promise<RawFrame> {
    const seen = this.frames.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  send(type: number, flags: number, streamId: number, lengthOrPayload: number | Buffer): void {
    if (typeof lengthOrPayload === 'number') {
      this.conn.write(encodeHeader(type as FrameType, flags, streamId, lengthOrPayload));
    } else {
      this.conn.write(encodeFrame(type as FrameType, flags, streamId, lengthOrPayload));
    }
  }

  sendBytes(b: Buffer): void {
    this.conn.write(b);
  }
}

/** A session on one end of a pair and a RawPeer on the other. */
export function rawPair(
  role: 'client' | 'server',
  options: SessionOptions = {},
): { session: Session; peer: RawPeer } {
  const [a, b] = duplexPair();
  const session = new Session(a, role, { enableKeepAlive: false, ...options });
  return { session, peer: new RawPeer(b) };
}

/** Reads a stream to its end without destroying it (for-await would, killing the write side). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream.iterator({ destroyOnReturn: false })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The suites' one seeded PRNG (mulberry32), so fuzz failures can be replayed from the seed. */
export { prng } from '../../../test/support/prng.js';

export function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

export { HEADER_SIZE, once };

/** Resolves once the stream has emitted 'close', including when that already happened. */
export async function whenClosed(stream: Duplex): Promise<void> {
  if (!stream.closed) await once(stream, 'close');
}
