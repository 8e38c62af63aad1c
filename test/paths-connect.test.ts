// Error paths of the start after the handshake line: connecting to the plugin, the TLS
// handshake, and AutoMTLS refusing a plugin that would downgrade the connection. Each
// hostile plugin prints a well-formed handshake line and then breaks a rule.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  HandshakeError,
  PluginClient,
  type PluginClientOptions,
  StartTimeoutError,
} from '@plugwire/core';
import { checkLeaks, fixture } from './helpers.js';

const { socketDir } = checkLeaks();
const HOSTILE_LISTENER = fileURLToPath(new URL('./fixtures/hostile-listener.py', import.meta.url));
/** Short, so that a timeout test takes a second; the lower bound below is what is pinned. */
const START_TIMEOUT = 1_000;
/** A certificate for the TLS options of the host; the plugins below never get that far. */
const SOME_CERT = Buffer.from('not a certificate: the plugin never answers').toString('base64');

function client(t: TestContext, options: Partial<PluginClientOptions>): PluginClient {
  const c = new PluginClient({
    command: process.execPath,
    plugins: { calc: {} },
    unixSocketDir: socketDir,
    ...options,
  });
  t.after(() => c.kill());
  return c;
}

/** A plugin that prints `line` as its handshake and then waits. */
function lineOnly(t: TestContext, line: string, extra: Partial<PluginClientOptions> = {}) {
  return client(t, {
    args: [fixture('fake-plugin')],
    env: { FIXTURE_MODE: 'line', FIXTURE_LINE: line },
    ...extra,
  });
}

/** The Python plugin whose socket never serves (see the fixture). */
function hostileListener(
  t: TestContext,
  mode: 'full-backlog' | 'mute',
  extra: Partial<PluginClientOptions> = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'pw-paths-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return client(t, {
    command: 'python3',
    args: [HOSTILE_LISTENER],
    env: { FIXTURE_MODE: mode, FIXTURE_DIR: dir },
    startTimeout: START_TIMEOUT,
    ...extra,
  });
}

test('a handshake naming a socket nobody listens on fails the start with PLUGWIRE_CONNECT', async (t) => {
  // Inside the directory the host made for this plugin: anywhere else is refused earlier.
  const c = lineOnly(t, '1|1|unix|$DIR/nobody-listens.sock|jsonrpc+msgpack');
  const err = await c.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.equal(err.code, 'PLUGWIRE_CONNECT');
  assert.match(err.message, /could not connect to the plugin at unix:\/.*\/nobody-listens\.sock/);
  assert.match(err.message, /ENOENT/);
  assert.equal(c.exited, true, 'the plugin was killed');
});

test('a connect that never completes fails the start at the start timeout and kills the plugin', async (t) => {
  const c = hostileListener(t, 'full-backlog', { network: 'tcp' });
  const started = performance.now();
  const err = await c.start().catch((e) => e);
  const took = performance.now() - started;
  assert.ok(err instanceof StartTimeoutError, String(err));
  assert.equal(err.code, 'PLUGWIRE_START_TIMEOUT');
  // the handshake line came at once: only the connect can have waited this long
  assert.ok(took >= START_TIMEOUT * 0.9, `failed after ${took.toFixed(0)} ms`);
  assert.equal(c.exited, true, 'the plugin was killed');
});

test('a TLS handshake the plugin never answers fails the start at the start timeout', async (t) => {
  const c = hostileListener(t, 'mute', { tls: { ca: [SOME_CERT], servername: 'localhost' } });
  const started = performance.now();
  const err = await c.start().catch((e) => e);
  const took = performance.now() - started;
  assert.ok(err instanceof StartTimeoutError, String(err));
  assert.equal(err.code, 'PLUGWIRE_START_TIMEOUT');
  assert.ok(took >= START_TIMEOUT * 0.9, `failed after ${took.toFixed(0)} ms`);
  assert.equal(c.exited, true, 'the plugin was killed');
});

test('AutoMTLS: a plugin that answers without a certificate is refused, not used in the clear', async (t) => {
  // the address would serve (nobody listens there): the refusal must come before any connect
  const line = `1|1|unix|${join(socketDir, 'never-dialled.sock')}|jsonrpc+msgpack`;
  const c = lineOnly(t, line, { autoMTLS: true });
  const err = await c.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.equal(err.code, 'PLUGWIRE_HANDSHAKE');
  assert.match(
    err.message,
    /returned no certificate in its handshake: it does not support AutoMTLS/,
  );
  assert.equal(err.line, line);
  assert.equal(c.exited, true);
});

test('a plugin that offers TLS to a host without TLS is refused, not used in the clear', async (t) => {
  const line = `1|1|unix|${join(socketDir, 'never-dialled.sock')}|jsonrpc+msgpack|${SOME_CERT}`;
  const c = lineOnly(t, line);
  const err = await c.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.equal(err.code, 'PLUGWIRE_HANDSHAKE');
  assert.match(
    err.message,
    /offered TLS \(a certificate in its handshake\) but this host has no TLS/,
  );
  assert.equal(err.line, line);
  assert.equal(c.exited, true);
});
