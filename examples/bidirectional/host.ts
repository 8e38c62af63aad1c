import { fileURLToPath } from 'node:url';
import { PluginClient, proxy } from '@plugwire/sdk';
import { type AddHelper, counter } from './counter.js';

class HostAdder implements AddHelper {
  calls = 0;
  async sum(a: number, b: number) {
    this.calls++;
    return a + b;
  }
}

const client = new PluginClient({
  command: process.execPath,
  args: [fileURLToPath(new URL('./plugin.js', import.meta.url))],
  plugins: { counter },
});
const c = await client.dispense(counter);
// proxy(): the plugin gets a reference to this object, not a copy of its data.
const adder = proxy(new HostAdder());
for (const n of [1, 2, 3, 4]) await c.put('total', n, adder);
console.log(
  `total = ${await c.get('total')} (the plugin called the host's adder ${adder.calls} times)`,
);
await client.kill();
