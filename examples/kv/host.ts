// Usage: node examples/dist/kv/host.js put <key> <value> | get <key> | keys
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginClient } from '@plugwire/sdk';
import { kv } from './kv.js';

const [cmd = 'demo', key = 'greeting', value = 'hello'] = process.argv.slice(2);
// The demo uses a scratch directory; put/get/keys use the plugin's default directory.
const scratch = cmd === 'demo' ? mkdtempSync(join(tmpdir(), 'kv-demo-')) : undefined;
const client = new PluginClient({
  command: process.execPath,
  args: [fileURLToPath(new URL('./plugin.js', import.meta.url))],
  plugins: { kv },
  env: scratch ? { KV_DIR: scratch } : {},
  logger: (r) => {
    if (r.module === 'kv')
      console.error(`[plugin ${r.level}] ${r.message} ${JSON.stringify(r.fields)}`);
  },
});
try {
  const store = await client.dispense(kv);
  if (cmd === 'put') await store.put(key, Buffer.from(value));
  else if (cmd === 'get') console.log((await store.get(key))?.toString() ?? '(not found)');
  else if (cmd === 'keys') console.log((await store.keys()).join('\n'));
  else {
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    await store.put('bin', bytes);
    await store.put(key, Buffer.from(value));
    const back = Buffer.from((await store.get('bin'))!);
    console.log(
      `binary round trip: ${back.equals(bytes) ? 'intact' : 'CORRUPTED'} (${back.toString('hex')})`,
    );
    console.log(`${key} = ${(await store.get(key))?.toString()}`);
    console.log(`keys: ${(await store.keys()).sort().join(', ')}`);
  }
} finally {
  await client.kill();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}
