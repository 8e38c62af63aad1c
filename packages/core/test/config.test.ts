// PluginClient's options: defaults, checks naming the option, combinations that cannot work,
// and the environment a plugin gets (seen through an injected spawn: nothing runs).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PluginClient, type PluginClientOptions } from '../src/index.js';

const base = mkdtempSync(join(tmpdir(), 'pw-config-'));
after(() => rmSync(base, { recursive: true, force: true }));

const make = (o: Partial<PluginClientOptions>) =>
  new PluginClient({ command: 'plugin', plugins: {}, ...o } as PluginClientOptions);

for (const [option, value, kind, message] of [
  ['startTimeout', -1, RangeError, /startTimeout must be above 0/],
  ['startTimeout', 0, RangeError, /startTimeout/],
  ['startTimeout', Number.POSITIVE_INFINITY, RangeError, /startTimeout/],
  ['startTimeout', 2 ** 31, RangeError, /startTimeout/],
  ['startTimeout', '5s', TypeError, /startTimeout must be a number/],
  ['killGrace', -5, RangeError, /killGrace must be 0 or more/],
  ['brokerTimeout', Number.NaN, RangeError, /brokerTimeout/],
  ['maxMessageSize', 0, RangeError, /maxMessageSize/],
  ['minPort', 70_000, RangeError, /minPort must be a port number/],
  ['maxPort', 1.5, RangeError, /maxPort/],
  ['network', 'udp', TypeError, /network must be 'unix' or 'tcp'/],
  ['codecs', [], TypeError, /codecs must be a non-empty array/],
  ['args', 'plugin.js', TypeError, /args must be an array of strings/],
  ['command', 42, TypeError, /command must be a string/],
] as const) {
  test(`${option}: ${String(value)} throws ${kind.name} naming the option`, () => {
    assert.throws(
      () => make({ [option]: value }),
      (err: Error) => {
        assert.ok(err instanceof kind, `${err.name}: ${err.message}`);
        assert.match(err.message, message);
        return true;
      },
    );
  });
}

test('minPort above maxPort is a RangeError naming both', () => {
  assert.throws(() => make({ minPort: 5000, maxPort: 4000 }), /minPort \(5000\) is above maxPort/);
});

test('an unknown codec name fails at construction', () => {
  assert.throws(() => make({ codecs: ['yaml'] }));
});

test('reattach with a checksum is refused: a running plugin is never checked', () => {
  assert.throws(
    () =>
      new PluginClient({
        plugins: {},
        checksum: { hash: '00' },
        reattach: {
          version: 1,
          pid: 1,
          network: 'unix',
          address: '/x',
          protocolVersion: 1,
          codec: 'json',
        },
      }),
    (err: Error) =>
      err instanceof TypeError && /checksum cannot be combined with reattach/.test(err.message),
  );
});

test('a checksum with both spawn and command is refused: it would cover command while spawn runs', () => {
  assert.throws(
    () => make({ spawn: () => ({}) as ChildProcess, checksum: { hash: '00' } }),
    (err: Error) => err instanceof TypeError && /checksum\.file/.test(err.message),
  );
});

test('a checksum with spawn and checksum.file is accepted: it names what spawn runs', () => {
  make({
    command: undefined,
    spawn: () => ({}) as ChildProcess,
    checksum: { hash: '00', file: 'p.js' },
  });
});

test('reattach with reattachable is refused', () => {
  assert.throws(
    () =>
      new PluginClient({
        plugins: {},
        reattachable: true,
        reattach: {
          version: 1,
          pid: 1,
          network: 'tcp',
          address: '127.0.0.1:1',
          protocolVersion: 1,
          codec: 'json',
        },
      }),
    /reattachable cannot be combined with reattach/,
  );
});

/** Starts a client whose spawn only records the environment and then fails. */
async function environmentOf(o: Partial<PluginClientOptions>): Promise<NodeJS.ProcessEnv> {
  let seen: NodeJS.ProcessEnv | undefined;
  const client = new PluginClient({
    ...(o.versionedPlugins ? {} : { plugins: { calc: {} } }),
    unixSocketDir: base,
    ...o,
    spawn: (env) => {
      seen = env;
      throw new Error('not started: the test only looks at the environment');
    },
  });
  await assert.rejects(client.start(), /not started/);
  assert.ok(seen);
  return seen;
}

test("the plugin's environment carries the protocol variables, a socket dir of the host's and a tcp token", async () => {
  const env = await environmentOf({
    codecs: ['json'],
    versionedPlugins: { 1: {}, 3: {} },
    network: 'tcp',
    minPort: 4000,
    maxPort: 4010,
  });
  assert.equal(env.PLUGWIRE_MAGIC_COOKIE, 'b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41');
  assert.equal(env.PLUGIN_PROTOCOL_VERSIONS, '3,1');
  assert.equal(env.PLUGWIRE_CODECS, 'json');
  assert.equal(env.PLUGWIRE_NETWORK, 'tcp');
  assert.equal(env.PLUGIN_MIN_PORT, '4000');
  assert.equal(env.PLUGIN_MAX_PORT, '4010');
  assert.match(env.PLUGWIRE_AUTH_TOKEN ?? '', /^[0-9a-f]{64}$/);
  assert.match(env.PLUGIN_UNIX_SOCKET_DIR ?? '', new RegExp(`^${base}/plugwire-`));
  assert.deepEqual(readdirSync(base), [], 'a failed start removes the directory it made');
});

test('each start gets its own token; insecureTcp gives none', async () => {
  const a = await environmentOf({});
  const b = await environmentOf({});
  assert.notEqual(a.PLUGWIRE_AUTH_TOKEN, b.PLUGWIRE_AUTH_TOKEN);
  const insecure = await environmentOf({ insecureTcp: true });
  assert.equal(insecure.PLUGWIRE_AUTH_TOKEN, undefined);
});

test('env adds and removes variables; plugwire variables cannot be overridden', async () => {
  process.env.PW_CONFIG_TEST = 'host';
  after(() => delete process.env.PW_CONFIG_TEST);
  const env = await environmentOf({
    env: { EXTRA: '1', PW_CONFIG_TEST: undefined, PLUGIN_PROTOCOL_VERSIONS: '9' },
  });
  assert.equal(env.EXTRA, '1');
  assert.equal(env.PW_CONFIG_TEST, undefined);
  assert.equal(env.PLUGIN_PROTOCOL_VERSIONS, '1');
});

test("skipHostEnv leaves out the host's environment", async () => {
  process.env.PW_CONFIG_TEST = 'host';
  after(() => delete process.env.PW_CONFIG_TEST);
  const env = await environmentOf({ skipHostEnv: true, env: { ONLY: 'this' } });
  assert.equal(env.PW_CONFIG_TEST, undefined);
  assert.equal(env.PATH, undefined);
  assert.equal(env.ONLY, 'this');
});

test("a token in the host's own environment is never passed on", async () => {
  const env = await environmentOf({ insecureTcp: true, env: { PLUGWIRE_AUTH_TOKEN: 'leak' } });
  assert.equal(env.PLUGWIRE_AUTH_TOKEN, undefined);
});
