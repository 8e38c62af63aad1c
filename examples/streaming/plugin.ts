import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { serve } from '@plugwire/sdk';
import { type Generator, generator } from './files.js';

const impl: Generator = {
  async bytes(size, seed) {
    let sent = 0;
    let x = seed >>> 0;
    return new Readable({
      read() {
        const n = Math.min(64 * 1024, size - sent);
        if (n <= 0) return void this.push(null);
        const chunk = Buffer.allocUnsafe(n);
        for (let i = 0; i < n; i++) {
          x = (x * 1664525 + 1013904223) >>> 0;
          chunk[i] = x >>> 24;
        }
        sent += n;
        this.push(chunk);
      },
    });
  },
  async *records(count) {
    for (let id = 1; id <= count; id++) yield { id, name: `record-${id}` };
  },
  async digest(data) {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of data) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    return { bytes, sha256: hash.digest('hex') };
  },
};

await serve({ plugins: { generator: generator.implement(impl) } });
