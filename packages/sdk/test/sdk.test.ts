import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CancelledError, ConnectionClosedError, TimeoutError } from '@plugwire/core';
import { checkLeaks } from '../../../test/support/leaks.js';
import {
  callContext,
  definePlugin,
  MethodNotFoundError,
  proxy,
  type Remote,
  RemoteError,
  retain,
} from '../src/index.js';
import { connect } from './connect.js';

checkLeaks();

interface Greeter {
  greet(name: string): string;
  greetAll(names: string[], excited?: boolean): Promise<string[]>;
}

class EnglishGreeter implements Greeter {
  greet(name: string) {
    return `Hello, ${name}!`;
  }
  async greetAll(names: string[], excited = false) {
    return names.map((n) => `Hello, ${n}${excited ? '!!!' : '.'}`);
  }
}

const greeter = definePlugin<Greeter>({ name: 'greeter', methods: ['greet', 'greetAll'] });

test('a defined plugin is called through a typed client, in process', async () => {
  const conn = await connect({
    server: { plugins: { greeter: greeter.implement(new EnglishGreeter()) } },
  });
  const g: Remote<Greeter> = await conn.dispense(greeter);
  assert.equal(await g.greet('Ada'), 'Hello, Ada!');
  assert.deepEqual(await g.greetAll(['a', 'b'], true), ['Hello, a!!!', 'Hello, b!!!']);
  assert.deepEqual(await g.greetAll(['c']), ['Hello, c.']);
  await conn.close();
});

test('without a method list the client forwards any name and the server serves its own methods', async () => {
  const loose = definePlugin<Greeter>({ name: 'greeter' });
  const conn = await connect({
    server: { plugins: { greeter: loose.implement(new EnglishGreeter()) } },
  });
  const g = await conn.dispense(loose);
  assert.equal(await g.greet('Bob'), 'Hello, Bob!');
  const unknown = await (g as unknown as { nope(): Promise<void> }).nope().catch((e) => e);
  assert.ok(unknown instanceof MethodNotFoundError);
  assert.ok(unknown instanceof RemoteError);
  assert.equal(unknown.code, 'PLUGWIRE_METHOD_NOT_FOUND');
  assert.equal(unknown.rpcCode, -32601);
  assert.equal(unknown.method, 'nope');
  assert.equal(unknown.plugin, 'greeter');
  assert.match(unknown.message, /plugin "greeter" has no method "nope"/);
  await conn.close();
});

interface KV {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, value: Uint8Array): Promise<void>;
}
const kv = definePlugin<KV>({ name: 'kv', methods: ['get', 'put'] });
class MemoryKV implements KV {
  readonly data = new Map<string, Uint8Array>();
  async get(key: string) {
    return this.data.get(key) ?? null;
  }
  async put(key: string, value: Uint8Array) {
    this.data.set(key, value);
  }
}

for (const codec of ['msgpack', 'json'] as const) {
  test(`binary values round-trip intact with the ${codec} codec`, async () => {
    const conn = await connect({
      server: { plugins: { kv: kv.implement(new MemoryKV()) } },
      codec,
    });
    const store = await conn.dispense(kv);
    const value = Buffer.from([0, 1, 2, 255, 254, 0x80]);
    await store.put('k', value);
    const back = await store.get('k');
    assert.ok(back instanceof Uint8Array);
    assert.deepEqual(Buffer.from(back), value);
    assert.equal(await store.get('missing'), null);
    await conn.close();
  });
}

test('remote errors come back as RemoteError with message, code, data and the remote stack', async () => {
  const failing = definePlugin<{ open(path: string): Promise<void> }>({
    name: 'fs',
    methods: ['open'],
  });
  const impl = {
    async open(path: string) {
      throw Object.assign(new Error(`no such file: ${path}`), { code: 'ENOENT', data: { path } });
    },
  };
  const conn = await connect({ server: { plugins: { fs: failing.implement(impl) } } });
  const fs = await conn.dispense(failing);
  const err = await fs.open('/x').catch((e) => e);
  assert.ok(err instanceof RemoteError);
  assert.ok(err instanceof Error);
  assert.equal(err.message, 'no such file: /x');
  assert.equal(err.code, 'ENOENT');
  assert.equal(err.rpcCode, -32000);
  assert.deepEqual(err.data, { path: '/x' });
  assert.equal(err.remoteName, 'Error');
  assert.match(err.remoteStack ?? '', /at Object\.open/);
  assert.match(err.stack ?? '', /--- remote stack ---/);
  await conn.close();
});

// go-plugin's bidirectional example: the plugin adds through a helper that lives in the host.
interface AddHelper {
  sum(a: number, b: number): Promise<number>;
}
interface Counter {
  put(key: string, value: number, helper: AddHelper): Promise<void>;
  get(key: string): Promise<number>;
  each(visit: (key: string, value: number) => Promise<void>): Promise<number>;
}
const counter = definePlugin<Counter>({ name: 'counter', methods: ['put', 'get', 'each'] });
class CounterImpl implements Counter {
  readonly values = new Map<string, number>();
  async put(key: string, value: number, helper: AddHelper) {
    this.values.set(key, await helper.sum(this.values.get(key) ?? 0, value));
  }
  async get(key: string) {
    return this.values.get(key) ?? 0;
  }
  async each(visit: (key: string, value: number) => Promise<void>) {
    for (const [k, v] of this.values) await visit(k, v);
    return this.values.size;
  }
}

test('an object marked with proxy() is served to the plugin, which calls back into the host', async () => {
  const conn = await connect({
    server: { plugins: { counter: counter.implement(new CounterImpl()) } },
  });
  const c = await conn.dispense(counter);
  let helperCalls = 0;
  class HostAdder implements AddHelper {
    async sum(a: number, b: number) {
      helperCalls++;
      return a + b;
    }
  }
  await c.put('x', 5, proxy(new HostAdder()));
  await c.put('x', 7, proxy(new HostAdder()));
  assert.equal(await c.get('x'), 12);
  assert.equal(helperCalls, 2);
  await conn.close();
});

test('a function passed as an argument is called back, with its own arguments', async () => {
  const conn = await connect({
    server: { plugins: { counter: counter.implement(new CounterImpl()) } },
  });
  const c = await conn.dispense(counter);
  await c.put('a', 1, { sum: async (x: number, y: number) => x + y });
  await c.put('b', 2, { sum: async (x: number, y: number) => x + y });
  const seen: Array<[string, number]> = [];
  const n = await c.each(async (k, v) => {
    seen.push([k, v]);
  });
  assert.equal(n, 2);
  assert.deepEqual(seen, [
    ['a', 1],
    ['b', 2],
  ]);
  await conn.close();
});

test('callbacks work in the other direction too: the plugin passes a function to the host', async () => {
  interface Events {
    subscribe(onEvent: (name: string) => Promise<void>): Promise<void>;
  }
  interface Source {
    start(events: Events): Promise<number>;
  }
  const source = definePlugin<Source>({ name: 'source', methods: ['start'] });
  const impl: Source = {
    async start(events) {
      const got: string[] = [];
      await events.subscribe(async (name) => {
        got.push(name);
      });
      return got.length;
    },
  };
  const conn = await connect({ server: { plugins: { source: source.implement(impl) } } });
  const s = await conn.dispense(source);
  // the host serves `events`; inside it, it calls the plugin's onEvent callback
  const count = await s.start({
    async subscribe(onEvent: (name: string) => Promise<void>) {
      await onEvent('first');
      await onEvent('second');
    },
  });
  assert.equal(count, 2);
  await conn.close();
});

test('a callback stops working when its call has returned, unless retained', async () => {
  interface Watcher {
    watch(onChange: (v: number) => Promise<void>): Promise<void>;
    fire(v: number): Promise<string>;
  }
  const watcher = definePlugin<Watcher>({ name: 'watcher', methods: ['watch', 'fire'] });
  let saved: ((v: number) => Promise<void>) | undefined;
  const impl: Watcher = {
    async watch(onChange) {
      saved = onChange;
    },
    async fire(v) {
      try {
        await saved!(v);
        return 'delivered';
      } catch (e) {
        return (e as Error).name;
      }
    },
  };
  const conn = await connect({ server: { plugins: { watcher: watcher.implement(impl) } } });
  const w = await conn.dispense(watcher);
  const got: number[] = [];
  await w.watch(async (v) => {
    got.push(v);
  });
  assert.equal(await w.fire(1), 'ConnectionClosedError');
  await w.watch(
    retain(async (v: number) => {
      got.push(v);
    }),
  );
  assert.equal(await w.fire(2), 'delivered');
  assert.equal(await w.fire(3), 'delivered');
  assert.deepEqual(got, [2, 3]);
  await conn.close();
});

interface Files {
  read(name: string): Promise<Readable>;
  write(name: string, data: Readable): Promise<number>;
  numbers(count: number): AsyncIterable<{ n: number; square: number }>;
  lines(count: number): Promise<AsyncIterable<string>>;
}
const files = definePlugin<Files>({
  name: 'files',
  methods: ['read', 'write', 'numbers', 'lines'],
});
const filesImpl: Files = {
  async read(name) {
    const chunk = Buffer.alloc(64 * 1024, name);
    return Readable.from(
      (function* () {
        for (let i = 0; i < 64; i++) yield chunk;
      })(),
      { objectMode: false },
    );
  },
  async write(_name, data) {
    let n = 0;
    for await (const c of data) n += (c as Buffer).length;
    return n;
  },
  numbers(count) {
    return (async function* () {
      for (let n = 0; n < count; n++) yield { n, square: n * n };
    })();
  },
  async lines(count) {
    return (async function* () {
      for (let i = 0; i < count; i++) yield `line ${i}`;
      throw Object.assign(new Error('disk on fire'), { code: 'EFIRE' });
    })();
  },
};

test('a method can return a byte stream that the host reads with backpressure', async () => {
  const conn = await connect({ server: { plugins: { files: files.implement(filesImpl) } } });
  const f = await conn.dispense(files);
  const stream = await f.read('z');
  let total = 0;
  for await (const c of stream) {
    total += (c as Buffer).length;
    assert.equal((c as Buffer)[0], 'z'.charCodeAt(0));
  }
  assert.equal(total, 64 * 64 * 1024);
  await conn.close();
});

test('a method can take a byte stream from the host', async () => {
  const conn = await connect({ server: { plugins: { files: files.implement(filesImpl) } } });
  const f = await conn.dispense(files);
  const data = Readable.from([Buffer.alloc(100_000, 1), Buffer.alloc(23, 2)], {
    objectMode: false,
  });
  assert.equal(await f.write('x', data), 100_023);
  await conn.close();
});

test('a method can return an object stream (server streaming), values in order', async () => {
  const conn = await connect({ server: { plugins: { files: files.implement(filesImpl) } } });
  const f = await conn.dispense(files);
  const seen: number[] = [];
  for await (const v of await f.numbers(1000)) {
    assert.equal(v.square, v.n * v.n);
    seen.push(v.n);
  }
  assert.deepEqual(
    seen,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  await conn.close();
});

test('an error thrown while streaming ends the object stream with that error', async () => {
  const conn = await connect({ server: { plugins: { files: files.implement(filesImpl) } } });
  const f = await conn.dispense(files);
  const seen: string[] = [];
  const err = await (async () => {
    for await (const line of await f.lines(3)) seen.push(line);
  })().catch((e) => e);
  assert.deepEqual(seen, ['line 0', 'line 1', 'line 2']);
  assert.equal(err.message, 'disk on fire');
  assert.equal(err.code, 'EFIRE');
  await conn.close();
});

test('a slow reader of a byte stream keeps the memory in flight bounded', async () => {
  const big = definePlugin<{ flood(mib: number): Promise<Readable> }>({
    name: 'big',
    methods: ['flood'],
  });
  let produced = 0;
  const conn = await connect({
    server: {
      plugins: {
        big: big.implement({
          async flood(mib: number) {
            const chunk = Buffer.alloc(64 * 1024);
            return new Readable({
              read() {
                if (produced >= mib * 1024 * 1024) this.push(null);
                else {
                  produced += chunk.length;
                  this.push(chunk);
                }
              },
            });
          },
        }),
      },
    },
  });
  const b = await conn.dispense(big);
  const stream = await b.flood(64);
  let consumed = 0;
  let maxAhead = 0;
  for await (const c of stream) {
    consumed += (c as Buffer).length;
    maxAhead = Math.max(maxAhead, produced - consumed);
    if (consumed % (1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
  }
  assert.equal(consumed, 64 * 1024 * 1024);
  // window (256 KiB) + the buffers of the streams on each side, far below the 64 MiB sent
  assert.ok(maxAhead < 2 * 1024 * 1024, `producer ran ${maxAhead} bytes ahead`);
  await conn.close();
});

test('a slow reader of an object stream pauses the producer', async () => {
  let produced = 0;
  const ticker = definePlugin<{ ticks(): AsyncIterable<number> }>({
    name: 'ticker',
    methods: ['ticks'],
  });
  const conn = await connect({
    server: {
      plugins: {
        ticker: ticker.implement({
          async *ticks() {
            for (let i = 0; i < 100_000; i++) {
              produced++;
              yield i;
            }
          },
        }),
      },
    },
  });
  const t = await conn.dispense(ticker);
  let maxAhead = 0;
  let consumed = 0;
  for await (const i of await t.ticks()) {
    consumed++;
    maxAhead = Math.max(maxAhead, produced - consumed);
    if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
    if (i === 20_000) break; // stops the producer too
  }
  assert.ok(maxAhead < 40_000, `producer ran ${maxAhead} items ahead`);
  await new Promise((r) => setImmediate(r));
  assert.ok(produced < 100_000, 'breaking out stopped the producer');
  await conn.close();
});

test('a call can be cancelled: the implementation sees its signal fire', async () => {
  let aborted: unknown;
  const slow = definePlugin<{ wait(ms: number): Promise<string> }>({
    name: 'slow',
    methods: ['wait'],
  });
  const conn = await connect({
    server: {
      plugins: {
        slow: slow.implement({
          wait(ms: number) {
            const { signal } = callContext();
            return new Promise<string>((resolve, reject) => {
              const t = setTimeout(() => resolve('done'), ms);
              signal.addEventListener('abort', () => {
                clearTimeout(t);
                aborted = signal.reason;
                reject(new Error('stopped'));
              });
            });
          },
        }),
      },
    },
  });
  const s = await conn.dispense(slow);
  const ac = new AbortController();
  const call = s.wait(10_000, { signal: ac.signal });
  setImmediate(() => ac.abort());
  await assert.rejects(call, CancelledError);
  while (aborted === undefined) await new Promise((r) => setImmediate(r));
  await assert.rejects(s.wait(10_000, { timeout: 20 }), TimeoutError);
  assert.equal(await s.wait(1), 'done');
  await conn.close();
});

test('callContext() outside a call says how to use it', () => {
  assert.throws(() => callContext(), /synchronously at the start of a plugin method/);
});

test('versioned plugin sets: the highest common version is served', async () => {
  interface V1 {
    hello(): string;
  }
  interface V2 extends V1 {
    hello2(name: string): string;
  }
  const v1 = definePlugin<V1>({ name: 'hi', methods: ['hello'] });
  const v2 = definePlugin<V2>({ name: 'hi', methods: ['hello', 'hello2'] });
  const server = {
    versionedPlugins: {
      1: { hi: v1.implement({ hello: () => 'v1' }) },
      2: { hi: v2.implement({ hello: () => 'v2', hello2: (n: string) => `v2 ${n}` }) },
    },
  };
  const both = await connect({
    server,
    client: { versionedPlugins: { 1: { hi: v1 }, 2: { hi: v2 } } },
  });
  assert.equal(both.protocolVersion, 2);
  const h2 = await both.dispense(v2);
  assert.equal(await h2.hello2('x'), 'v2 x');
  await both.close();
  const old = await connect({ server, client: { versionedPlugins: { 1: { hi: v1 } } } });
  assert.equal(old.protocolVersion, 1);
  assert.equal(await (await old.dispense(v1)).hello(), 'v1');
  await old.close();
});

test('closing the connection rejects calls in flight', async () => {
  const slow = definePlugin<{ never(): Promise<void> }>({ name: 'slow', methods: ['never'] });
  const conn = await connect({
    server: { plugins: { slow: slow.implement({ never: () => new Promise(() => {}) }) } },
  });
  const s = await conn.dispense(slow);
  // Handled before close(): over a socket the call rejects while close() runs.
  const rejected = assert.rejects(s.never(), ConnectionClosedError);
  await conn.close();
  await rejected;
});

test('an implementation missing a listed method is refused at definition time', () => {
  assert.throws(
    () => greeter.implement({ greet: () => 'x' } as unknown as Greeter),
    /no method "greetAll"/,
  );
});

test('a method that returns a plain value or throws is answered without a promise of its own', async () => {
  let seen: { method: string; plugin: string; signal: unknown } | undefined;
  const sync = definePlugin<{ twice(n: number): number; fail(): number }>({
    name: 'sync',
    methods: ['twice', 'fail'],
  });
  const conn = await connect({
    server: {
      plugins: {
        sync: sync.implement({
          twice(n: number) {
            const ctx = callContext();
            seen = { method: ctx.method, plugin: ctx.plugin, signal: ctx.signal };
            return n * 2;
          },
          fail() {
            throw Object.assign(new Error('no'), { code: 'ENOPE' });
          },
        }),
      },
    },
  });
  const s = await conn.dispense(sync);
  assert.equal(await s.twice(21), 42);
  assert.equal(seen?.method, 'twice');
  assert.equal(seen?.plugin, 'sync');
  assert.ok(seen?.signal instanceof AbortSignal);
  const err = await s.fail().catch((e: unknown) => e);
  assert.ok(err instanceof RemoteError);
  assert.equal(err.code, 'ENOPE');
  assert.equal(err.message, 'no');
  await conn.close();
});

test('a returned class instance is a copy of its data; a returned proxy() is a reference', async () => {
  class Session {
    user = 'ada';
    hits = 0;
    hit() {
      return ++this.hits;
    }
  }
  const session = new Session();
  const sessions = definePlugin<{ copy(): Session; live(): Session }>({
    name: 'sessions',
    methods: ['copy', 'live'],
  });
  const conn = await connect({
    server: {
      plugins: {
        sessions: sessions.implement({ copy: () => session, live: () => proxy(session) }),
      },
    },
  });
  const s = await conn.dispense(sessions);
  const copy = (await s.copy()) as unknown as Record<string, unknown>;
  assert.deepEqual({ ...copy }, { user: 'ada', hits: 0 });
  assert.equal(copy.hit, undefined, 'a copy has no methods');
  const live = (await s.live()) as unknown as { hit(): Promise<number>; release(): void };
  assert.equal(await live.hit(), 1);
  assert.equal(session.hits, 1, 'the call reached the plugin object');
  live.release();
  await conn.close();
});

test('a call with more than 64 callbacks is refused before anything is sent', async () => {
  const many = definePlugin<{ take(...fns: Array<() => void>): number }>({
    name: 'many',
    methods: ['take'],
  });
  let called = false;
  const conn = await connect({
    server: {
      plugins: {
        many: many.implement({
          take: () => {
            called = true;
            return 0;
          },
        }),
      },
    },
  });
  const m = await conn.dispense(many);
  const fns = Array.from({ length: 65 }, () => () => {});
  await assert.rejects(m.take(...fns), /at most 64/);
  assert.equal(called, false);
  await conn.close();
});

test('definePlugin refuses a method list with a name JavaScript itself looks up', () => {
  for (const name of ['then', 'constructor', '__proto__', 'toString', 'toJSON']) {
    assert.throws(
      () => definePlugin<Record<string, () => void>>({ name: 'bad', methods: [name] }),
      (e: unknown) => e instanceof TypeError && /reserved/.test((e as Error).message),
      name,
    );
  }
});

test('a client without a method list is not a thenable and keeps Object names local', async () => {
  const loose = definePlugin<Greeter>({ name: 'greeter' });
  const conn = await connect({
    server: { plugins: { greeter: loose.implement(new EnglishGreeter()) } },
  });
  const g = (await conn.dispense(loose)) as unknown as Record<string, unknown>;
  assert.equal(g.then, undefined);
  assert.equal(g.toJSON, undefined);
  assert.equal(String(g), '[object Object]', 'toString is Object.prototype.toString');
  assert.equal(typeof g.greet, 'function');
  await conn.close();
});
