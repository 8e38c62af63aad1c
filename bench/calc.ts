// The interface the plugwire contender serves, defined once for host and plugin with the SDK.

import type { Readable } from 'node:stream';
import { definePlugin } from '@plugwire/sdk';

/** The interface every contender serves, in the SDK's terms. */
export interface Calc {
  add(a: number, b: number): number;
  echo(data: Uint8Array): Uint8Array;
  /**
   * `size` bytes in `chunk`-byte pieces as a byte stream. `fresh`: every piece is a new
   * buffer (so that bytes held anywhere show in RSS), else views of one random block.
   */
  bulk(size: number, chunk: number, fresh: boolean): Readable;
}

export const calc = definePlugin<Calc>({ name: 'calc', methods: ['add', 'echo', 'bulk'] });
