// Containment at the sdk's layer (issue #13 items 1, 9, 10): what a plugin sends as values,
// objects and names cannot crash, hang or reach into its host, and the same for a plugin
// facing a hostile host. The hostile sides are real processes: test/fixtures/hostile-sdk-
// plugin.ts (written with @plugwire/core, sending hand-made markers), or this test acting as
// a host with a raw RPC peer against an ordinary SDK plugin (sdk-target-plugin.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CancelledError,
  definePlugin,
  InvalidMarkerError,
  ObjectStreamError,
  PluginClient,
  type PluginContext,
  type PluginSet,
  proxy,
  type Remote,
  RpcError,
  RpcPeer,
  TimeoutError,
  UnknownPluginError,
} from '@plugwire/sdk';
import { checkLeaks, fixture } from './helpers.js';

const { socketDir } = checkLeaks();

/** A hang must fail the test, not the suite. */
const deadline = { timeout: 20_000 };

/**
 * Runs `fn` with a client of fixture `name` and kills it afterwards, also when an assert
 * fails. (Not t.after: on Node 20 it runs after the leak check's afterEach.)
 */
async function withPlugin(
  name: string,
  plugins: PluginSet,
  fn: (c: PluginClient) => Promise<void>,
): Promise<void> {
  const c = new PluginClient({
    command: process.execPath,
    args: [fixture(name)],
    plugins,
    unixSocketDir: socketDir,
  });
  try {
    await fn(c);
  } finally {
    await c.kill();
  }
}

// The hostile plugin's interface as the host sees it: a typed client without a method list.
interface Hostile {
  thenableRejects(): Promise<unknown>;
  thenableHangs(): Promise<unknown>;
  objectWithMethods(methods: unknown): Promise<unknown>;
  unacknowledged(kind: string): Promise<unknown>;
  malformedItems(): Promise<AsyncIterable<unknown>>;
  poke(value: unknown, method: string): Promise<{ byReference: boolean; called?: string }>;
}
const hostile = definePlugin<Hostile>({ name: 'hostile' });

/** Runs `fn` with the hostile plugin's typed client. */
function withHostile(fn: (remote: Remote<Hostile>) => Promise<void>): () => Promise<void> {
  return () =>
    withPlugin('hostile-sdk-plugin', { hostile }, async (c) => fn(await c.dispense(hostile)));
}

// ---- #13 item 1: thenable results ------------------------------------------------------

test(
  'a returned object whose methods include "then" is refused with InvalidMarkerError, and the host goes on',
  deadline,
  withHostile(async (remote) => {
    const err = await remote.thenableRejects().catch((e: unknown) => e);
    assert.ok(err instanceof InvalidMarkerError, `got ${err}`);
    assert.equal(err.code, 'PLUGWIRE_INVALID_MARKER');
    assert.match(err.message, /"then" is reserved/);
    // the host is not crashed and the connection still works
    const poked = await remote.poke(1, 'x');
    assert.equal(poked.byReference, false);
  }),
);

test(
  'a returned object whose "then" never answers cannot hold a call beyond its timeout',
  deadline,
  withHostile(async (remote) => {
    await assert.rejects(remote.thenableHangs({ timeout: 2_000 }), InvalidMarkerError);
  }),
);

test(
  'method names that JavaScript itself looks up are refused in a returned object',
  deadline,
  withHostile(async (remote) => {
    for (const name of [
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
      'valueOf',
      'prototype',
      'toJSON',
      '__defineGetter__',
      '$/cancelRequest',
    ]) {
      const err = await remote.objectWithMethods(['ok', name]).catch((e: unknown) => e);
      assert.ok(err instanceof InvalidMarkerError, `${name}: got ${err}`);
    }
  }),
);

test(
  'a method list that is not a short list of short strings is refused',
  deadline,
  withHostile(async (remote) => {
    for (const methods of [
      'then',
      null,
      [42],
      [''],
      ['x'.repeat(257)],
      Array.from({ length: 1025 }, (_, i) => `m${i}`),
    ]) {
      const err = await remote.objectWithMethods(methods).catch((e: unknown) => e);
      assert.ok(
        err instanceof InvalidMarkerError,
        `${JSON.stringify(methods).slice(0, 40)}: got ${err}`,
      );
    }
    // the limits themselves are accepted
    const fine = (await remote.objectWithMethods(
      Array.from({ length: 1024 }, (_, i) => `m${i}`),
    )) as {
      release(): void;
    };
    assert.equal(typeof (fine as Record<string, unknown>).m1023, 'function');
    assert.equal((fine as Record<string, unknown>).then, undefined);
    fine.release();
  }),
);

test(
  'a marker of an unknown kind is refused before anything is dialled',
  deadline,
  withHostile(async (remote) => {
    await assert.rejects(remote.unacknowledged('weird'), InvalidMarkerError);
  }),
);

test(
  "a call's timeout covers dialling the stream of a returned function",
  deadline,
  withHostile(async (remote) => {
    const err = await remote.unacknowledged('fn', { timeout: 300 }).catch((e: unknown) => e);
    // without the timeout covering the dial, the broker's own 5 s timeout would fail it
    assert.ok(err instanceof TimeoutError, `got ${err}`);
    assert.equal(err.timeout, 300);
  }),
);

test(
  "a call's signal covers dialling the stream of a returned object stream",
  deadline,
  withHostile(async (remote) => {
    const ac = new AbortController();
    const call = remote.unacknowledged('iter', { signal: ac.signal });
    // the answer arrives first (the ping's answer is behind it), then the dial waits
    await remote.poke(1, 'x');
    ac.abort();
    await assert.rejects(call, CancelledError);
  }),
);

test(
  'an object stream whose items are malformed ends with ObjectStreamError',
  deadline,
  withHostile(async (remote) => {
    const items = await remote.malformedItems();
    const seen: unknown[] = [];
    const err = await (async () => {
      for await (const item of items) seen.push(item);
    })().catch((e: unknown) => e);
    assert.ok(err instanceof ObjectStreamError, `got ${err} after ${seen.length} items`);
    assert.equal(err.code, 'PLUGWIRE_OBJECT_STREAM');
  }),
);

// ---- #13 item 9: values are values -----------------------------------------------------

class Account {
  balance = 100;
  withdraw() {
    this.balance = 0;
  }
}

const values: Array<[string, () => object, string, (v: object) => void]> = [
  [
    'a Map',
    () => new Map([['k', 1]]),
    'clear',
    (m) => assert.equal((m as Map<string, number>).size, 1),
  ],
  ['a Set', () => new Set([1]), 'clear', (s) => assert.equal((s as Set<number>).size, 1)],
  ['a Date', () => new Date(0), 'setTime', (d) => assert.equal((d as Date).getTime(), 0)],
  [
    'a typed array',
    () => new Uint8Array([7]),
    'fill',
    (a) => assert.equal((a as Uint8Array)[0], 7),
  ],
  ['an Error', () => new Error('e'), 'toString', () => {}],
  [
    'a class instance',
    () => new Account(),
    'withdraw',
    (a) => assert.equal((a as Account).balance, 100),
  ],
];
for (const [what, make, method, unchanged] of values) {
  test(
    `${what} passed as an argument travels by value: the plugin cannot call ${method}() on it`,
    deadline,
    withHostile(async (remote) => {
      const value = make();
      const answer = await remote.poke(value, method);
      assert.equal(answer.byReference, false);
      unchanged(value);
    }),
  );
}

test(
  'an object marked with proxy() travels by reference: the plugin calls its methods',
  deadline,
  withHostile(async (remote) => {
    const account = new Account();
    const answer = await remote.poke(proxy(account), 'withdraw');
    assert.deepEqual(answer, { byReference: true, called: 'withdraw' });
    assert.equal(account.balance, 0);
  }),
);

// ---- #13 item 10: names ----------------------------------------------------------------

const inherited = ['constructor', 'toString', '__proto__', 'hasOwnProperty'];

test(
  'dispense() of a name every object inherits is UnknownPluginError on the host, before sending',
  deadline,
  () =>
    withPlugin('calc-plugin', { calc: {} }, async (c) => {
      for (const name of inherited) {
        const err = await c.dispense(name).catch((e: unknown) => e);
        assert.ok(err instanceof UnknownPluginError, `${name}: got ${err}`);
        assert.match(err.message, /the host has: calc/);
      }
    }),
);

test(
  'dispense() of a name every object inherits is UnknownPluginError in the plugin',
  deadline,
  () => {
    // A host whose own plugin set has these names sends them; the plugin must refuse.
    const plugins: PluginSet = { calc: {} };
    for (const name of inherited)
      Object.defineProperty(plugins, name, { value: {}, enumerable: true });
    return withPlugin('calc-plugin', plugins, async (c) => {
      for (const name of inherited) {
        const err = await c.dispense(name).catch((e: unknown) => e);
        assert.ok(err instanceof UnknownPluginError, `${name}: got ${err}`);
        assert.match(err.message, /the plugin has: calc/);
      }
    });
  },
);

test(
  'an implementation without a method list serves its own methods, not inherited ones',
  deadline,
  () =>
    withPlugin('sdk-target-plugin', { store: {}, probe: {} }, async (c) => {
      const store = await c.dispense<RpcPeer>('store');
      assert.equal(await store.request('set', ['k', 'v']), true);
      assert.equal(await store.request('get', ['k']), 'v');
      for (const method of [
        'removeAllListeners',
        'emit',
        'on',
        'setMaxListeners',
        'constructor',
        'toString',
        'hasOwnProperty',
        '__proto__',
      ]) {
        const err = await store.request(method, []).catch((e: unknown) => e);
        assert.ok(err instanceof RpcError && err.code === -32601, `${method}: got ${err}`);
      }
      assert.equal(
        await store.request('listeners_', []),
        1,
        "the plugin's listener is still there",
      );
      const info = await c.info();
      assert.deepEqual(info.methods?.store?.slice().sort(), ['get', 'listeners_', 'set']);
    }),
);

// A host written by hand: its `probe` client is the raw peer and the connection's context.
const rawProbe = { client: (peer: RpcPeer, ctx: PluginContext) => ({ peer, ctx }) };

test('a plugin refuses a thenable object from its host and answers the call', deadline, () =>
  withPlugin('sdk-target-plugin', { probe: rawProbe }, async (c) => {
    const { peer: probe, ctx } = (await c.dispense('probe')) as ReturnType<typeof rawProbe.client>;
    // It offers an object whose `then` never answers.
    const id = ctx.broker.nextId();
    ctx.broker.accept(id).then(
      (stream) =>
        new RpcPeer(stream, { codec: ctx.codec }).handle('then', () => new Promise(() => {})),
      () => {}, // the contained plugin never dials
    );
    const err = await probe
      .request('describe', [{ $plugwire: 'obj', id, methods: ['then'] }], { timeout: 5_000 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof RpcError, `got ${err}`);
    assert.equal((err.data as { code?: string }).code, 'PLUGWIRE_INVALID_MARKER');
    assert.equal(await probe.request('describe', [1]), 'number', 'the plugin goes on');
  }),
);

test(
  'a plugin refuses a call that carries more than 64 remote values, before dialling any',
  deadline,
  () =>
    withPlugin('sdk-target-plugin', { probe: rawProbe }, async (c) => {
      const { peer: probe } = (await c.dispense('probe')) as ReturnType<typeof rawProbe.client>;
      const markers = Array.from({ length: 65 }, (_, i) => ({ $plugwire: 'fn', id: 1001 + 2 * i }));
      const err = await probe
        .request('describe', markers, { timeout: 5_000 })
        .catch((e: unknown) => e);
      assert.ok(err instanceof RpcError, `got ${err}`);
      assert.equal((err.data as { code?: string }).code, 'PLUGWIRE_INVALID_MARKER');
    }),
);
