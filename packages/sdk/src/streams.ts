import type { Readable } from 'node:stream';
import { ConnectionClosedError, RpcPeer, type Stream } from '@plugwire/core';
import { fromRemote, ObjectStreamError } from './errors.js';
import type { Wire } from './markers.js';

// Byte streams and object streams on broker streams of their own (markers.ts). A byte
// stream is the raw bytes of its broker stream. An object stream is a JSON-RPC peer that
// receives notifications "item" [value], then "end" [] or "error" [{message, name, code,
// data}]. Flow control is the mux's: a reader that stops reading stops the writer.

/**
 * Items an object-stream sender hands to the stream at once. The RPC peer gathers writes
 * until the end of the tick, and a producer over ready data never ends it; every this many
 * items the sender flushes and waits for the stream's drain, so the mux window holds the
 * producer when the reader lags. 32 small items are a few hundred bytes to a few KiB: far
 * below the 256 KiB window, and frequent enough to stay within one window of the reader.
 */
export const ITEMS_PER_FLUSH = 32;

/**
 * Items a receiver buffers before it stops reading its stream (and so stops crediting the
 * sender's window); it reads again below half of it. Bounds the receiver's memory to this
 * many decoded items plus one mux window of encoded ones.
 */
export const RECEIVER_HIGH_WATER = 256;

/** Sends `source`'s bytes on `stream`; either side ending early ends the other. */
export function sendBytes(stream: Stream, source: Readable): void {
  stream.resume(); // the receiver sends nothing back; let its FIN end our side
  source.pipe(stream);
  source.once('error', (e) => stream.destroy(e));
  stream.once('close', () => {
    if (!source.readableEnded) source.destroy();
  });
}

/** Waits until the stream can take more, or is gone. */
function writable(stream: Stream): Promise<void> {
  if (!stream.writableNeedDrain || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Sends the items of `items` as an object stream on `stream`. */
export async function sendItems(
  stream: Stream,
  items: AsyncIterable<unknown>,
  wire: Wire,
): Promise<void> {
  const peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:items` });
  try {
    let sent = 0;
    for await (const item of items) {
      if (peer.closed) break; // the receiver stopped reading: for-await ends the iterator
      peer.notify('item', [item]);
      if (++sent % ITEMS_PER_FLUSH === 0) {
        peer.flush();
        await writable(stream);
      }
    }
    if (!peer.closed) peer.notify('end', []);
  } catch (err) {
    const e = err as { message?: unknown; name?: unknown; code?: unknown; data?: unknown };
    if (!peer.closed) {
      peer.notify('error', [
        { message: String(e?.message ?? err), name: e?.name, code: e?.code, data: e?.data },
      ]);
    }
  }
  await peer.close();
}

/** Received side of an object stream: items arrive as notifications; pausing the stream stops the sender. */
export class ItemReceiver<T> implements AsyncIterable<T> {
  readonly #stream: Stream;
  readonly #peer: RpcPeer;
  #items: T[] = [];
  #head = 0;
  #done = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #iterating = false;

  constructor(stream: Stream, wire: Wire) {
    this.#stream = stream;
    this.#peer = new RpcPeer(stream, { codec: wire.codec, name: `${wire.plugin}:items` });
    this.#peer.handle('item', (params: unknown) => {
      if (!Array.isArray(params) || params.length !== 1) {
        this.#finish(
          new ObjectStreamError('the sender sent an "item" whose params are not [value]'),
        );
        this.#peer.destroy();
        return;
      }
      this.#items.push(params[0] as T);
      // Backpressure: stop reading the stream, so the mux stops crediting the sender.
      if (this.#items.length - this.#head >= RECEIVER_HIGH_WATER) stream.pause();
      this.#notify();
    });
    this.#peer.handle('end', () => this.#finish());
    this.#peer.handle('error', (params: unknown) => {
      const e = (Array.isArray(params) ? params[0] : undefined) as
        | { message?: unknown; name?: unknown; code?: unknown; data?: unknown }
        | undefined;
      const message = typeof e?.message === 'string' ? e.message : 'remote stream failed';
      const err = Object.assign(new Error(message), {
        name: 'RemoteError',
        remoteName: e?.name,
        code: e?.code,
        data: e?.data,
      });
      this.#finish(err);
    });
    this.#peer.on('close', (err?: Error) => {
      if (!this.#done)
        this.#finish(err ?? new ConnectionClosedError('the object stream ended without "end"'));
    });
  }

  #finish(err?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = err;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#iterating) throw new Error('an object stream can be iterated once');
    this.#iterating = true;
    try {
      for (;;) {
        if (this.#head < this.#items.length) {
          const item = this.#items[this.#head]!;
          this.#items[this.#head++] = undefined as T;
          if (this.#head === this.#items.length) {
            this.#items = [];
            this.#head = 0;
          }
          if (
            this.#stream.isPaused() &&
            this.#items.length - this.#head < RECEIVER_HIGH_WATER / 2
          ) {
            this.#stream.resume();
          }
          yield item;
          continue;
        }
        if (this.#done) {
          if (this.#error) throw fromRemote(this.#error);
          return;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      // Stopped early (break, throw): tell the sender to stop.
      if (!this.#done) this.#peer.destroy();
      else void this.#peer.close();
    }
  }
}
