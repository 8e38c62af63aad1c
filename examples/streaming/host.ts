import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { PluginClient } from '@plugwire/sdk';
import { generator } from './files.js';

const client = new PluginClient({
  command: process.execPath,
  args: [fileURLToPath(new URL('./plugin.js', import.meta.url))],
  plugins: { generator },
});
const gen = await client.dispense(generator);

// plugin → host: 32 MiB of bytes, read with backpressure
const started = performance.now();
let received = 0;
const hash = createHash('sha256');
for await (const chunk of await gen.bytes(32 * 1024 * 1024, 42)) {
  received += (chunk as Buffer).length;
  hash.update(chunk as Buffer);
}
const secs = (performance.now() - started) / 1000;
console.log(
  `received ${received} bytes in ${secs.toFixed(2)} s, sha256 ${hash.digest('hex').slice(0, 16)}…`,
);

// plugin → host: an object stream
let last: { id: number; name: string } | undefined;
let count = 0;
for await (const r of await gen.records(10_000)) {
  last = r;
  count++;
}
console.log(`received ${count} records, the last: ${JSON.stringify(last)}`);

// host → plugin: a byte stream the plugin digests
const data = Buffer.alloc(5 * 1024 * 1024, 'plugwire');
const d = await gen.digest(Readable.from([data], { objectMode: false }));
const local = createHash('sha256').update(data).digest('hex');
console.log(`plugin read ${d.bytes} bytes; checksum ${d.sha256 === local ? 'matches' : 'DIFFERS'}`);
await client.kill();
