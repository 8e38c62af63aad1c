import { Duplex } from 'node:stream';

/**
 * Two connected in-memory duplexes: bytes written to one are read from the other, with
 * backpressure (a write completes only once the other side's reader wants more). For
 * tests and for running both ends of a session in one process (Node 20 has no
 * `stream.duplexPair`).
 */
export function duplexPair(options: { highWaterMark?: number } = {}): [Duplex, Duplex] {
  const hwm = options.highWaterMark ?? 64 * 1024;
  const a = new Side(hwm);
  const b = new Side(hwm);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class Side extends Duplex {
  peer!: Side;
  /** The write waiting for the peer's reader to want more. */
  #blocked: (() => void) | null = null;

  constructor(hwm: number) {
    super({ highWaterMark: hwm, allowHalfOpen: true });
  }

  // Delivery happens on the next tick, as with a socket: a write never runs the other
  // side's handlers inside the writer's call stack.
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    process.nextTick(() => {
      const peer = this.peer;
      if (peer.destroyed) {
        cb(new Error('the other end of the duplex pair is destroyed'));
        return;
      }
      if (peer.push(chunk)) cb();
      else peer.#blocked = () => cb();
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    process.nextTick(() => {
      if (!this.peer.destroyed) this.peer.push(null);
      cb();
    });
  }

  override _read(): void {
    const blocked = this.#blocked;
    this.#blocked = null;
    blocked?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    // Like a socket: the other end sees the connection go away.
    if (!peer.destroyed) process.nextTick(() => peer.destroy());
    const blocked = this.#blocked;
    this.#blocked = null;
    blocked?.();
    cb(err);
  }
}
