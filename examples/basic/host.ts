// The host: starts the plugin process, calls it, stops it.
import { fileURLToPath } from 'node:url';
import { PluginClient } from '@plugwire/sdk';
import { greeter } from './greeter.js';

const client = new PluginClient({
  command: process.execPath,
  args: [fileURLToPath(new URL('./plugin.js', import.meta.url))],
  plugins: { greeter },
});

const g = await client.dispense(greeter); // typed: Remote<Greeter>
console.log(await g.greet('world'));
console.log(
  `host pid ${process.pid}, plugin pid ${client.pid}, protocol v${client.negotiatedVersion}, ${client.codec}`,
);
await client.kill();
