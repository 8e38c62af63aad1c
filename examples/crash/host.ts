// The plugin dies mid-call; the host gets a PluginExitedError with the exit code and the
// plugin's last words, starts a new plugin process, and goes on.
import { fileURLToPath } from 'node:url';
import { PluginClient, PluginExitedError } from '@plugwire/core';
import { fragile } from './fragile.js';

const start = () =>
  new PluginClient({
    command: process.execPath,
    args: [fileURLToPath(new URL('./plugin.js', import.meta.url))],
    plugins: { fragile },
    logger: () => {}, // its stderr is in the error below
  });

let client = start();
let f = await client.dispense(fragile);
console.log(`10 / 4 = ${await f.divide(10, 4)}`);
try {
  await f.divide(1, 0);
} catch (err) {
  if (!(err instanceof PluginExitedError)) throw err;
  console.log(
    `the plugin crashed (exit code ${err.exitCode}); its stderr said: "${err.stderr.at(-1)}"`,
  );
}
console.log('the host is still running; starting a new plugin process');
client = start();
f = await client.dispense(fragile);
console.log(`9 / 3 = ${await f.divide(9, 3)}`);
await client.kill();
