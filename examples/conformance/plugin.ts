// The TypeScript reference plugin of the conformance kit: `plugwire conformance -- node
// examples/dist/conformance/plugin.js` passes every item. CONFORMANCE_BREAK=echo makes echo
// answer wrong, for the kit's own test.
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { callContext, serve } from '@plugwire/sdk';
import { type Conformance, conformance } from './conformance.js';

const broken = process.env.CONFORMANCE_BREAK;
let cancelled = 0;

class Reference implements Conformance {
  echo(value: unknown) {
    return broken === 'echo' ? { broken: true } : value;
  }
  fail(code: string, message: string): void {
    throw Object.assign(new Error(message), { code });
  }
  async callback(n: number, fn: (i: number) => number | Promise<number>) {
    let sum = 0;
    for (let i = 1; i <= n; i++) sum += await fn(i);
    return sum;
  }
  bytesOut(n: number) {
    return Readable.from(chunks(n), { objectMode: false });
  }
  async bytesIn(stream: Readable) {
    let size = 0;
    let sum = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (const b of chunk) sum = (sum + b) % 65521;
      size += chunk.length;
    }
    return { size, sum };
  }
  async *itemsOut(n: number) {
    for (let i = 1; i <= n; i++) yield i;
  }
  async itemsIn(items: AsyncIterable<number>) {
    let sum = 0;
    for await (const x of items) sum += x;
    return sum;
  }
  hang(): Promise<void> {
    const { signal } = callContext();
    return new Promise((_, reject) => {
      signal.addEventListener('abort', () => {
        cancelled++;
        reject(signal.reason);
      });
    });
  }
  cancelled() {
    return cancelled;
  }
  size(data: Uint8Array) {
    return data.byteLength;
  }
  async sleep(ms: number) {
    await delay(ms);
    return ms;
  }
}

function* chunks(n: number): Generator<Buffer> {
  for (let sent = 0; sent < n; ) {
    const k = Math.min(64 * 1024, n - sent);
    const b = Buffer.allocUnsafe(k);
    for (let i = 0; i < k; i++) b[i] = (sent + i) % 251;
    sent += k;
    yield b;
  }
}

await serve({ plugins: { conformance: conformance.implement(new Reference()) } });
