// The interface of the Python plugin (plugin.py), as the TypeScript host sees it.
import type { Readable } from 'node:stream';
import { definePlugin } from '@plugwire/sdk';

export interface Text {
  /** `text` in capitals, with an exclamation mark. */
  shout(text: string): Promise<string>;
  /** Reads `data` to its end, calling `onProgress` with the bytes read so far. */
  word_count(
    data: Readable,
    onProgress: (bytesRead: number) => void,
  ): Promise<{ bytes: number; top: Array<[string, number]> }>;
  /** `times` numbered lines of `text`, as a byte stream. */
  banner(text: string, times: number): Promise<Readable>;
  /** Always fails, with the code `ENODICT`. */
  fail(): Promise<void>;
}

export const text = definePlugin<Text>({
  name: 'text',
  methods: ['shout', 'word_count', 'banner', 'fail'],
});
