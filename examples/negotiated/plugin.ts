import { serve } from '@plugwire/sdk';
import { kvV1, kvV2 } from './kv.js';

const data = new Map([
  ['a', 'alpha'],
  ['b', 'beta'],
]);
const get = async (key: string) => data.get(key) ?? null;

await serve({
  versionedPlugins: {
    1: { kv: kvV1.implement({ get }) },
    2: {
      kv: kvV2.implement({ get, getMany: async (keys) => keys.map((k) => data.get(k) ?? null) }),
    },
  },
});
