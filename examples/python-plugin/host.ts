// A TypeScript host driving a plugin written in Python (plugin.py) with the Python SDK in
// python/: a plain call, a byte stream to the plugin with a callback into the host, a byte
// stream back, and an error with a code. The interpreter is $PYTHON (default python3); it
// needs Python 3.11+ and msgpack (Debian: python3-msgpack).
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { PluginClient, RemoteError } from '@plugwire/sdk';
import { text } from './text.js';

const here = new URL('../../python-plugin/', import.meta.url); // from examples/dist/python-plugin
const client = new PluginClient({
  command: process.env.PYTHON ?? 'python3',
  args: [fileURLToPath(new URL('plugin.py', here))],
  env: { PYTHONPATH: fileURLToPath(new URL('../../python', here)) },
  plugins: { text },
  logger: (r) => console.log(`[plugin ${r.level}] ${r.message} ${JSON.stringify(r.fields)}`),
});
const t = await client.dispense(text);

console.log(await t.shout('hello from python'));

const words = 'the quick brown fox jumps over the lazy dog and the fox sleeps '.repeat(20_000);
let calls = 0;
const counted = await t.word_count(
  Readable.from([Buffer.from(words)], { objectMode: false }),
  () => {
    calls++;
  },
);
console.log(
  `the plugin read ${counted.bytes} bytes (${calls} progress callbacks); top words: ${counted.top
    .map(([w, n]) => `${w}=${n}`)
    .join(', ')}`,
);

let banner = '';
for await (const chunk of await t.banner('plugwire', 3)) banner += chunk;
process.stdout.write(banner);

try {
  await t.fail();
} catch (err) {
  if (err instanceof RemoteError) console.log(`failed as expected: ${err.message} (${err.code})`);
  else throw err;
}
await client.kill();
console.log(`plugin stopped (${client.codec})`);
