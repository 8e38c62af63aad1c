import { fileURLToPath } from 'node:url';
import { PluginClient } from '@plugwire/sdk';
import { kvV1, kvV2 } from './kv.js';

const plugin = fileURLToPath(new URL('./plugin.js', import.meta.url));

// A current host: offers versions 1 and 2, gets 2.
const current = new PluginClient({
  command: process.execPath,
  args: [plugin],
  versionedPlugins: { 1: { kv: kvV1 }, 2: { kv: kvV2 } },
});
await current.start();
if (current.negotiatedVersion === 2) {
  const kv = await current.dispense(kvV2);
  console.log(
    `v${current.negotiatedVersion}: getMany → ${JSON.stringify(await kv.getMany(['a', 'b', 'z']))}`,
  );
}
await current.kill();

// An old host: knows only version 1, and still works with the new plugin.
const old = new PluginClient({
  command: process.execPath,
  args: [plugin],
  versionedPlugins: { 1: { kv: kvV1 } },
});
const kv1 = await old.dispense(kvV1);
console.log(`v${old.negotiatedVersion}: get → ${JSON.stringify(await kv1.get('a'))}`);
await old.kill();
