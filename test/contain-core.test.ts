// A plugin cannot hurt its host (issue #13), for @plugwire/core: paths, deadlines, broken
// sessions and stdout before the handshake. Each test drives a deliberately hostile plugin
// (test/fixtures/hostile-core-plugin.ts) and would fail on f98a714.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ConnectionLostError,
  HandshakeError,
  PluginClient,
  type PluginClientOptions,
  type RpcPeer,
  StartTimeoutError,
} from '@plugwire/core';
import { checkLeaks, fixture, calcClient as newCalcClient } from './helpers.js';

const { socketDir } = checkLeaks();

function hostile(
  mode: string,
  extra: Partial<PluginClientOptions> & { address?: string } = {},
): PluginClient {
  const { address, ...options } = extra;
  return new PluginClient({
    command: process.execPath,
    args: [fixture('hostile-core-plugin')],
    env: { HOSTILE_MODE: mode, ...(address ? { HOSTILE_ADDRESS: address } : {}) },
    plugins: { calc: {} },
    unixSocketDir: socketDir,
    killGrace: 200,
    ...options,
  });
}

/** A scratch directory outside the socket dir, removed after the test. */
function scratch(t: { after: (fn: () => void) => void }, prefix = 'pw-victim-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- item 2: the host never touches a path it did not create ---------------------------

const victims: [string, (dir: string) => { address: string; check: () => void }][] = [
  [
    'a regular file',
    (dir) => {
      const file = join(dir, 'notes.txt');
      writeFileSync(file, 'keep me');
      return { address: file, check: () => assert.equal(readFileSync(file, 'utf8'), 'keep me') };
    },
  ],
  [
    "a user's plugwire-* directory with data in it",
    (dir) => {
      const own = join(dir, 'plugwire-mine');
      mkdirSync(own);
      writeFileSync(join(own, 'data.db'), 'rows');
      return {
        address: join(own, 'plugin.sock'),
        check: () => assert.equal(readFileSync(join(own, 'data.db'), 'utf8'), 'rows'),
      };
    },
  ],
  [
    'a file like /etc/passwd (a copy, mode 0644)',
    (dir) => {
      const etc = join(dir, 'etc');
      mkdirSync(etc);
      const passwd = join(etc, 'passwd');
      writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\n');
      chmodSync(passwd, 0o644);
      return {
        address: passwd,
        check: () => assert.match(readFileSync(passwd, 'utf8'), /^root:x:0:0/),
      };
    },
  ],
];

for (const [what, make] of victims) {
  test(`a handshake naming ${what} as its socket is refused, and the path survives`, async (t) => {
    const { address, check } = make(scratch(t));
    const client = hostile('address', { address });
    t.after(() => client.kill());
    const err = await client.start().catch((e) => e);
    assert.ok(err instanceof HandshakeError, String(err));
    assert.equal(err.code, 'PLUGWIRE_HANDSHAKE_ADDRESS');
    assert.match(err.message, /not in the directory the host gave the plugin/);
    await client.waitForExit();
    check();
  });
}

test("a handshake naming another plugin's socket is refused; that plugin's directory and connection survive", async (t) => {
  const other = newCalcClient(socketDir);
  t.after(() => other.kill());
  const calc = await other.dispense<RpcPeer>('calc');
  const otherAddress = other.handshake!.address;
  const client = hostile('address', { address: otherAddress });
  t.after(() => client.kill());
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.equal(err.code, 'PLUGWIRE_HANDSHAKE_ADDRESS');
  await client.waitForExit();
  assert.ok(existsSync(otherAddress), "the other plugin's socket is still there");
  assert.equal(await calc.request('add', [1, 2]), 3);
  await other.kill();
});

test("a socket named through a link in the host's directory is refused; the link's target survives, and what the plugin left stays", async (t) => {
  const victim = scratch(t);
  const victimSocket = join(victim, 'plugin.sock');
  const server = createServer().listen(victimSocket);
  await once(server, 'listening');
  t.after(() => server.close());
  const client = hostile('link', { address: victim });
  t.after(() => client.kill());
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.equal(err.code, 'PLUGWIRE_HANDSHAKE_ADDRESS');
  await client.waitForExit();
  assert.ok(existsSync(victimSocket), 'the socket behind the link is still there');
  // Never removed recursively: the host's directory stays with what the plugin put in it.
  const [hostDir, ...others] = readdirSync(socketDir);
  assert.deepEqual(others, []);
  assert.deepEqual(readdirSync(join(socketDir, hostDir!)).sort(), ['left.txt', 'link']);
  rmSync(join(socketDir, hostDir!), { recursive: true });
  assert.ok(existsSync(victimSocket));
  server.close();
  await once(server, 'close');
});

// ---- item 3: every host wait has a deadline -------------------------------------------

for (const [mode, what] of [
  ['no-init', 'the plugin keeps yamux up but never answers plugwire/init'],
  ['silent', 'the peer accepts the connection and never speaks (not yamux)'],
] as const) {
  test(`start() fails at startTimeout when ${what}`, async (t) => {
    const client = hostile(mode, { startTimeout: 1_500 });
    t.after(() => client.kill());
    const started = performance.now();
    const err = await client.start().catch((e) => e);
    const took = performance.now() - started;
    assert.ok(err instanceof StartTimeoutError, String(err));
    assert.equal(err.code, 'PLUGWIRE_START_TIMEOUT');
    assert.match(err.message, /within 1500 ms \(waiting for the answer to plugwire\/init\)/);
    assert.ok(took < 1_500 + 2_000, `settled after ${took.toFixed(0)} ms`);
    assert.equal(client.state, 'exited');
  });
}

test('start() fails fast with ConnectionLostError when the peer answers with bytes that are not yamux', async (t) => {
  const client = hostile('garbage', { startTimeout: 30_000 });
  t.after(() => client.kill());
  const started = performance.now();
  const err = await client.start().catch((e) => e);
  const took = performance.now() - started;
  assert.ok(err instanceof ConnectionLostError, String(err));
  assert.equal(err.code, 'PLUGWIRE_CONNECTION_LOST');
  assert.equal((err.cause as { code?: string }).code, 'PLUGWIRE_MUX_PROTOCOL_ERROR');
  assert.ok(took < 5_000, `settled after ${took.toFixed(0)} ms`);
  assert.equal(client.state, 'exited');
});

// ---- item 4: a broken session means the plugin is gone --------------------------------

for (const [mode, what, cause] of [
  ['break-protocol', 'a yamux protocol error', 'PLUGWIRE_MUX_PROTOCOL_ERROR'],
  ['break-goaway', 'an error GoAway', 'PLUGWIRE_MUX_GOAWAY'],
  ['break-oversized', 'an oversized frame', 'PLUGWIRE_MUX_PROTOCOL_ERROR'],
] as const) {
  test(`after ${what} the client stops the live plugin, emits exit and reports ConnectionLostError`, async (t) => {
    const client = hostile(mode);
    t.after(() => client.kill());
    await client.start();
    const exited = once(client, 'exit');
    await assert.rejects(client.ping());
    const [status] = await exited;
    assert.equal(status.signal, 'SIGKILL', 'the fixture ignores quit and stdin: it needed SIGKILL');
    assert.equal(client.state, 'exited');
    assert.equal(client.killRequested, false, 'a broken session is a crash, not a requested kill');
    const reason = client.exitReason;
    assert.ok(reason instanceof ConnectionLostError, String(reason));
    assert.equal(reason.code, 'PLUGWIRE_CONNECTION_LOST');
    assert.equal((reason.cause as { code?: string }).code, cause);
    await assert.rejects(client.start(), ConnectionLostError);
  });
}

// ---- item 6: stdout before the handshake ------------------------------------------------

test("256 KiB of digits before the handshake does not stall the host's event loop", async (t) => {
  const client = hostile('stdout-digits', { stdout: () => {} });
  t.after(() => client.kill());
  let last = performance.now();
  let worst = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  t.after(() => clearInterval(tick));
  const started = performance.now();
  const err = await client.start().catch((e) => e);
  const took = performance.now() - started;
  clearInterval(tick);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.match(err.message, /exited before the handshake \(with code 3\)/);
  // f98a714: the regex scan blocked the loop for ~10 s. Time is the behaviour here.
  assert.ok(worst < 1_000, `the event loop stalled for ${worst.toFixed(0)} ms`);
  assert.ok(took < 5_000, `start settled after ${took.toFixed(0)} ms`);
});

test('an over-long stdout line before the handshake is forwarded cut', async (t) => {
  const lines: string[] = [];
  const client = hostile('stdout-long', {
    address: '/nonexistent/plugin.sock',
    stdout: (l) => lines.push(l),
  });
  t.after(() => client.kill());
  await assert.rejects(client.start(), HandshakeError);
  assert.ok(lines.length > 0);
  for (const l of lines) assert.ok(l.length <= 4096 + 64, `a forwarded line of ${l.length}`);
  assert.match(lines[0]!, /more characters cut\)$/);
});

test('more than 1 MiB of stdout before the handshake fails the start', async (t) => {
  const client = hostile('stdout-flood', { stdout: () => {} });
  t.after(() => client.kill());
  const err = await client.start().catch((e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.equal(err.code, 'PLUGWIRE_HANDSHAKE_OUTPUT');
  assert.equal(client.state, 'exited');
});
