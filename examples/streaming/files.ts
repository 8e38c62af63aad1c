// Streams both ways: the plugin generates bytes and records for the host, and reads a byte
// stream the host sends. Each stream has its own broker stream with flow control.
import type { Readable } from 'node:stream';
import { definePlugin } from '@plugwire/sdk';

export interface Generator {
  /** `size` pseudo-random bytes, as a byte stream. */
  bytes(size: number, seed: number): Promise<Readable>;
  /** Records, as an object stream. */
  records(count: number): AsyncIterable<{ id: number; name: string }>;
  /** Reads the host's stream and returns its length and checksum. */
  digest(data: Readable): Promise<{ bytes: number; sha256: string }>;
}

export const generator = definePlugin<Generator>({
  name: 'generator',
  methods: ['bytes', 'records', 'digest'],
});
