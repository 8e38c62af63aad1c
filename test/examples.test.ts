// Every example in examples/ runs as a user would run it, and prints what it should.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkLeaks } from './helpers.js';

checkLeaks();
const run = promisify(execFile);
const dist = fileURLToPath(new URL('../examples/dist/', import.meta.url));

async function example(name: string, ...args: string[]): Promise<string> {
  return exampleIn(undefined, name, ...args);
}

/** The example's host run with `cwd` as its working directory. */
async function exampleIn(cwd: string | undefined, name: string, ...args: string[]) {
  const { stdout } = await run(process.execPath, [join(dist, name, 'host.js'), ...args], {
    timeout: 60_000,
    cwd,
  });
  return stdout;
}

test('basic: the host greets through the plugin and stops it', async () => {
  const out = await example('basic');
  assert.match(out, /^Hello, world! \(from plugin pid \d+\)$/m);
  assert.match(out, /protocol v1, msgpack/);
});

test('basic: the host finds its plugin from any working directory, as the README shows', async () => {
  const out = await exampleIn(tmpdir(), 'basic');
  assert.match(out, /^Hello, world! \(from plugin pid \d+\)$/m);
});

test('kv: binary values survive the round trip', async () => {
  const out = await example('kv');
  assert.match(out, /binary round trip: intact \(000102fdfeff\)/);
  assert.match(out, /greeting = hello/);
  assert.match(out, /keys: bin, greeting/);
});

test('bidirectional: the plugin calls back into the host for every addition', async () => {
  assert.match(
    await example('bidirectional'),
    /total = 10 \(the plugin called the host's adder 4 times\)/,
  );
});

test('streaming: bytes and records from the plugin, bytes to the plugin, checksums match', async () => {
  const out = await example('streaming');
  assert.match(out, /received 33554432 bytes/);
  assert.match(out, /received 10000 records, the last: \{"id":10000,"name":"record-10000"\}/);
  assert.match(out, /plugin read 5242880 bytes; checksum matches/);
});

test('negotiated: a new host gets v2, an old host still gets v1 from the same plugin', async () => {
  const out = await example('negotiated');
  assert.match(out, /v2: getMany → \["alpha","beta",null\]/);
  assert.match(out, /v1: get → "alpha"/);
});

test('crash: the plugin dies, the host reports it and goes on with a new plugin', async () => {
  const out = await example('crash');
  assert.match(
    out,
    /the plugin crashed \(exit code 2\); its stderr said: "fatal: division by zero, giving up"/,
  );
  assert.match(out, /9 \/ 3 = 3/);
});
