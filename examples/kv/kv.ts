// go-plugin's KV example: a key-value store whose values are binary.
import { definePlugin } from '@plugwire/sdk';

export interface KV {
  put(key: string, value: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | null>;
  keys(): Promise<string[]>;
}

export const kv = definePlugin<KV>({ name: 'kv', methods: ['put', 'get', 'keys'] });
