// A plugin written with the Go sdk (examples/go-plugin, built on go/) driven by the TypeScript
// host through @plugwire/sdk: calls, errors with string codes, a callback into the host, byte
// streams both ways, an object stream and cancellation, over msgpack and json.
//
// Built once for this file from Debian's Go packages in GOPATH mode (scripts/go.mjs). Without
// Go this file fails, saying what to install, unless PLUGWIRE_SKIP_GO=1 (reported as skipped).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PluginClient, TimeoutError } from '@plugwire/core';
import { definePlugin, type Remote, RemoteError } from '@plugwire/sdk';
import { goBuild, goMissing, SDK_PACKAGES } from '../scripts/go.mjs';
import { checkLeaks, fixture } from './helpers.js';

const PLUGIN_SRC = fileURLToPath(new URL('../examples/go-plugin/plugin', import.meta.url));

interface Calc {
  add(a: number, b: number): number;
  echo(v: unknown): unknown;
  fail(): void;
  hang(): void;
  sum(n: number, onProgress: (i: number) => void | Promise<void>): number;
  bytes(n: number): Readable;
  digest(stream: Readable): { size: number; sum: number };
  count(n: number): AsyncIterable<number>;
}
const calc = definePlugin<Calc>({
  name: 'calc',
  methods: ['add', 'echo', 'fail', 'hang', 'sum', 'bytes', 'digest', 'count'],
});

const missing = goMissing(SDK_PACKAGES);
const skip =
  missing !== undefined && process.env.PLUGWIRE_SKIP_GO === '1'
    ? `PLUGWIRE_SKIP_GO=1 (${missing}): the Go sdk tests are skipped`
    : false;

const { socketDir } = checkLeaks();
let workDir = '';
let pluginBin = '';

before(async () => {
  if (skip) return;
  if (missing !== undefined) {
    throw new Error(
      `${missing}. The Go sdk tests need Go and Debian's Go packages: run ` +
        '`node scripts/ensure-go.mjs`, or set PLUGWIRE_SKIP_GO=1 to skip these tests.',
    );
  }
  workDir = mkdtempSync(join(tmpdir(), 'plugwire-go-sdk-plugin-'));
  pluginBin = join(workDir, 'calc-go');
  await goBuild({ target: '.', cwd: PLUGIN_SRC, out: pluginBin, workDir });
});

after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/**
 * Runs `body` with the Go plugin started for `codec`, and stops the plugin when it ends,
 * failed assertions included (before the leak check, which t.after would come too late for).
 */
async function withCalc(
  t: TestContext,
  codec: string,
  body: (c: Remote<Calc>, client: PluginClient) => Promise<void>,
): Promise<void> {
  const client = new PluginClient({
    command: pluginBin,
    plugins: { calc },
    codecs: [codec],
    unixSocketDir: socketDir,
  });
  t.after(() => client.kill());
  try {
    await body(await client.dispense(calc), client);
  } finally {
    await client.kill();
  }
}

/** 0, 1, 2… mod 256, as the plugin's bytes(n) sends them. */
function expectedBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i & 0xff;
  return b;
}

for (const codec of ['msgpack', 'json']) {
  test(`a Go sdk plugin answers calls and binary values over ${codec}`, { skip }, async (t) => {
    await withCalc(t, codec, async (c, client) => {
      assert.equal(client.codec, codec);
      assert.equal(await c.add(0.5, -2), -1.5);
      const value = { a: [1, 'two', null, true], nested: { x: {} } };
      assert.deepEqual(await c.echo(value), value);
      const bytes = (await c.echo(new Uint8Array([0, 1, 255]))) as Uint8Array;
      assert.ok(bytes instanceof Uint8Array, String(bytes));
      assert.deepEqual([...bytes], [0, 1, 255]);
      const sums = await Promise.all(Array.from({ length: 64 }, (_, i) => c.add(i, i)));
      assert.deepEqual(
        sums,
        Array.from({ length: 64 }, (_, i) => 2 * i),
      );
    });
  });

  test(`a Go sdk plugin's error reaches the TS host with its string code over ${codec}`, {
    skip,
  }, async (t) => {
    await withCalc(t, codec, async (c) => {
      const err = await c.fail().catch((e) => e);
      assert.ok(err instanceof RemoteError, String(err));
      assert.equal(err.rpcCode, -32000);
      assert.equal(err.code, 'E_PURPOSE');
      assert.equal(err.remoteName, 'Error');
      assert.equal(err.message, 'failed on purpose');
      const unknown = await (c as unknown as { nope(): Promise<void> }).nope?.().catch((e) => e);
      assert.equal(unknown, undefined, 'the definition lists its methods: no "nope"');
    });
  });

  test(`a Go sdk plugin calls back into the TS host during a call over ${codec}`, {
    skip,
  }, async (t) => {
    await withCalc(t, codec, async (c) => {
      const seen: number[] = [];
      assert.equal(
        await c.sum(5, async (i) => {
          seen.push(i);
        }),
        15,
      );
      assert.deepEqual(seen, [1, 2, 3, 4, 5]);
      // the host's callback failing fails the plugin's method, code and all
      const err = await c
        .sum(3, (i) => {
          if (i === 2) throw Object.assign(new Error('no more'), { code: 'E_STOP' });
        })
        .catch((e) => e);
      assert.ok(err instanceof RemoteError, String(err));
      assert.match(err.message, /onProgress\(2\): .*no more/);
      assert.equal(err.code, 'E_STOP', "the code of the host's error passes through the Go method");
    });
  });

  test(`byte streams flow both ways between a Go sdk plugin and the TS host over ${codec}`, {
    skip,
  }, async (t) => {
    await withCalc(t, codec, async (c) => {
      const n = 3 * 1024 * 1024 + 17; // several windows of 256 KiB
      const chunks: Buffer[] = [];
      for await (const chunk of await c.bytes(n)) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(expectedBytes(n)));

      const upload = Buffer.alloc(1024 * 1024 + 3, 5);
      const digest = await c.digest(
        Readable.from([upload.subarray(0, 1000), upload.subarray(1000)], { objectMode: false }),
      );
      assert.deepEqual(digest, { size: upload.length, sum: (upload.length * 5) % 65521 });
    });
  });

  test(`a Go channel reaches the TS host as an object stream over ${codec}`, {
    skip,
  }, async (t) => {
    await withCalc(t, codec, async (c) => {
      const items: number[] = [];
      for await (const x of await c.count(1000)) items.push(x);
      assert.equal(items.length, 1000);
      assert.equal(items[999], 1000);
    });
  });

  test(`a call the TS host cancels ends the Go method and the plugin carries on over ${codec}`, {
    skip,
  }, async (t) => {
    await withCalc(t, codec, async (c) => {
      await assert.rejects(c.hang({ timeout: 50 }), TimeoutError);
      const controller = new AbortController();
      const pending = c.hang({ signal: controller.signal });
      controller.abort();
      await assert.rejects(pending, /cancel/i);
      assert.equal(await c.add(2, 2), 4);
    });
  });
}

test('a Go sdk plugin exits 0 when the TS host kills it (quit, then stdin closed)', {
  skip,
}, async (t) => {
  const client = new PluginClient({
    command: pluginBin,
    plugins: { calc },
    unixSocketDir: socketDir,
  });
  t.after(() => client.kill());
  const c = await client.dispense(calc);
  assert.equal(await c.add(1, 2), 3);
  assert.deepEqual(await client.kill(), { code: 0, signal: null });
});

test('a Go sdk plugin listens on loopback tcp when the host asks for tcp', { skip }, async (t) => {
  const client = new PluginClient({
    command: pluginBin,
    plugins: { calc },
    network: 'tcp',
    unixSocketDir: socketDir,
  });
  t.after(() => client.kill());
  const c = await client.dispense(calc);
  assert.equal(client.handshake?.network, 'tcp');
  assert.match(client.handshake?.address ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(await c.add(1, 2), 3);
  assert.deepEqual(await client.kill(), { code: 0, signal: null });
});

test("connections to a Go sdk plugin's tcp port without the host's token neither take the host's place nor hold it up", {
  skip,
}, async (t) => {
  const reportFile = join(workDir, 'tcp-attack.json');
  const client = new PluginClient({
    command: process.execPath,
    args: [fixture('tcp-attacker'), pluginBin],
    env: { ATTACK_REPORT: reportFile },
    plugins: { calc },
    network: 'tcp',
    unixSocketDir: socketDir,
  });
  t.after(() => client.kill());
  const c = await client.dispense(calc);
  assert.equal(await c.add(1, 2), 3);
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  assert.deepEqual(
    report.wrongToken,
    { closed: true, received: [] },
    'a wrong token: closed, no ACK',
  );
  assert.deepEqual(
    report.noToken,
    { closed: true, received: [] },
    'no token then EOF: closed, no ACK',
  );
  assert.equal(
    report.silentStillOpen,
    true,
    'a silent connection was still waiting when the host connected',
  );
  assert.deepEqual(await client.kill(), { code: 0, signal: null });
});
