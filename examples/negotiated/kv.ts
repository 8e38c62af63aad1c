// Two protocol versions of one interface. Version 2 added `getMany`. A host that knows
// both gets version 2 from a plugin that has it; an old host still gets version 1.
import { definePlugin } from '@plugwire/sdk';

export interface KVv1 {
  get(key: string): Promise<string | null>;
}
export interface KVv2 extends KVv1 {
  getMany(keys: string[]): Promise<Array<string | null>>;
}

export const kvV1 = definePlugin<KVv1>({ name: 'kv', methods: ['get'] });
export const kvV2 = definePlugin<KVv2>({ name: 'kv', methods: ['get', 'getMany'] });
