// A host written with the Go sdk (examples/go-host, built on go/) drives the TypeScript
// example plugins: kv (calls, binary values, errors), bidirectional (a Go object the plugin
// calls back) and streaming (byte and object streams both ways), and stops them cleanly.
//
// Built once for this file from Debian's Go packages in GOPATH mode (scripts/go.mjs). Without
// Go this file fails, saying what to install, unless PLUGWIRE_SKIP_GO=1 (reported as skipped).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { goBuild, goMissing, SDK_PACKAGES } from '../scripts/go.mjs';
import { checkLeaks } from './helpers.js';

const HOST_SRC = fileURLToPath(new URL('../examples/go-host', import.meta.url));
const example = (name: string) =>
  fileURLToPath(new URL(`../examples/dist/${name}/plugin.js`, import.meta.url));

const missing = goMissing(SDK_PACKAGES);
const skip =
  missing !== undefined && process.env.PLUGWIRE_SKIP_GO === '1'
    ? `PLUGWIRE_SKIP_GO=1 (${missing}): the Go sdk tests are skipped`
    : false;

const { socketDir } = checkLeaks();
let workDir = '';
let hostBin = '';

before(async () => {
  if (skip) return;
  if (missing !== undefined) {
    throw new Error(
      `${missing}. The Go sdk tests need Go and Debian's Go packages: run ` +
        '`node scripts/ensure-go.mjs`, or set PLUGWIRE_SKIP_GO=1 to skip these tests.',
    );
  }
  workDir = mkdtempSync(join(tmpdir(), 'plugwire-go-sdk-host-'));
  hostBin = join(workDir, 'go-host');
  await goBuild({ target: '.', cwd: HOST_SRC, out: hostBin, workDir });
});

after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Runs the Go host once; its stdout is one JSON line per result, the last the plugin's exit. */
function goHost(
  args: string[],
  plugin: string,
  env: Record<string, string> = {},
): Promise<{ code: number; lines: Record<string, unknown>[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      hostBin,
      [...args, '--', process.execPath, plugin],
      {
        env: { ...process.env, PLUGIN_UNIX_SOCKET_DIR: socketDir, ...env },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && code === -1) return reject(err);
        try {
          const lines = stdout
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>);
          resolve({ code, lines, stderr });
        } catch (e) {
          reject(new Error(`unexpected output ${JSON.stringify(stdout)}: ${e}; stderr: ${stderr}`));
        }
      },
    );
  });
}

for (const codec of ['msgpack', 'json']) {
  test(`a Go host drives the TypeScript kv example over ${codec}: put, get, keys, clean stop`, {
    skip,
  }, async () => {
    const kvDir = mkdtempSync(join(tmpdir(), 'plugwire-go-kv-'));
    try {
      const env = { GO_HOST_CODEC: codec, KV_DIR: kvDir };
      const put = await goHost(['put', 'greeting', 'hé llo ✓'], example('kv'), env);
      assert.equal(put.code, 0, put.stderr);
      assert.deepEqual(put.lines, [{ put: 'greeting', codec, network: 'unix' }, { pluginExit: 0 }]);
      const got = await goHost(['get', 'greeting'], example('kv'), env);
      assert.deepEqual(got.lines[0], { key: 'greeting', value: 'hé llo ✓' });
      const none = await goHost(['get', 'absent'], example('kv'), env);
      assert.deepEqual(none.lines[0], { key: 'absent', value: null });
      const keys = await goHost(['keys'], example('kv'), env);
      assert.deepEqual(keys.lines, [{ keys: ['greeting'] }, { pluginExit: 0 }]);
      // the plugin's log records reach the Go host's logger
      assert.match(put.stderr, /stored.*key=greeting/);
    } finally {
      rmSync(kvDir, { recursive: true, force: true });
    }
  });
}

test('a Go host drives the TypeScript kv example over loopback tcp, presenting the tcp token', {
  skip,
}, async () => {
  const kvDir = mkdtempSync(join(tmpdir(), 'plugwire-go-kv-'));
  try {
    const env = { GO_HOST_NETWORK: 'tcp', GO_HOST_CODEC: 'json', KV_DIR: kvDir };
    const put = await goHost(['put', 'k', 'v'], example('kv'), env);
    assert.equal(put.code, 0, put.stderr);
    assert.deepEqual(put.lines, [{ put: 'k', codec: 'json', network: 'tcp' }, { pluginExit: 0 }]);
    const got = await goHost(['get', 'k'], example('kv'), env);
    assert.deepEqual(got.lines, [{ key: 'k', value: 'v' }, { pluginExit: 0 }]);
  } finally {
    rmSync(kvDir, { recursive: true, force: true });
  }
});

test('a Go host calling a method the TypeScript kv example lacks gets -32601 with data.method', {
  skip,
}, async () => {
  const r = await goHost(['nope', 'x'], example('kv'));
  assert.equal(r.code, 1);
  assert.deepEqual(r.lines[0], {
    error: 'remote error: Method not found',
    code: 'PLUGWIRE_REMOTE_ERROR',
    rpcCode: -32601,
    remoteCode: -32601,
    data: { method: 'nope' },
  });
  assert.deepEqual(r.lines[1], { pluginExit: 0 });
});

test('a Go host passes a Go object that the TypeScript counter example calls back', {
  skip,
}, async () => {
  const r = await goHost(['count', 'c', '2', '3', '4.5'], example('bidirectional'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.lines, [{ key: 'c', value: 9.5, helperCalls: 3 }, { pluginExit: 0 }]);
});

test('byte and object streams flow both ways between a Go host and the TypeScript streaming example', {
  skip,
}, async () => {
  const size = 2 * 1024 * 1024 + 5; // several windows of 256 KiB
  const r = await goHost(['stream', String(size)], example('streaming'));
  assert.equal(r.code, 0, r.stderr);
  const [result, exit] = r.lines as [Record<string, unknown>, Record<string, unknown>];
  assert.equal(result.received, size);
  assert.equal((result.pluginDigest as { bytes: number }).bytes, size);
  assert.equal(result.sameDigest, true, 'the plugin hashed the bytes the Go host sent back');
  assert.deepEqual(result.records, ['record-1', 'record-2', 'record-3']);
  assert.deepEqual(exit, { pluginExit: 0 });
});

test('a Go host stops a TypeScript plugin in order: quit answered first, then stdin closed, exit 0', {
  skip,
}, async () => {
  const r = await goHost(['keys'], example('kv'), { GO_HOST_LOG: 'debug' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /plugwire\/quit: answered=true/);
  // the plugin stopped because of quit, not because its stdin closed first
  assert.match(r.stderr, /plugin shutting down: reason="the host asked to quit"/);
  assert.deepEqual(r.lines.at(-1), { pluginExit: 0 });
});
