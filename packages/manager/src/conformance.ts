// The conformance kit: starts a plugin that serves the documented conformance interface
// (docs/protocol.md §14) and checks, one item at a time, what a plugin in any language must
// get right. `plugwire conformance -- <command…>` prints a pass/fail line per item.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { PluginClient } from '@plugwire/core';
import { definePlugin, type Remote, RemoteError } from '@plugwire/sdk';

/** The interface a plugin serves as "conformance" (protocol.md §14). */
export interface ConformancePlugin {
  echo(value: unknown): unknown;
  fail(code: string, message: string): void;
  callback(n: number, fn: (i: number) => number | Promise<number>): number;
  bytesOut(n: number): Readable;
  bytesIn(stream: Readable): { size: number; sum: number };
  itemsOut(n: number): AsyncIterable<number>;
  itemsIn(items: AsyncIterable<number>): number;
  hang(): void;
  cancelled(): number;
  size(data: Uint8Array): number;
  sleep(ms: number): number;
}

// Without a method list, the client forwards any name: the kit calls one the plugin lacks.
const conformance = definePlugin<ConformancePlugin>({ name: 'conformance' });

/** Options of runConformance. */
export interface ConformanceOptions {
  /** The plugin command and its arguments. */
  command: readonly string[];
  /** The codec to force. @default undefined (the host's default offer: msgpack, json) */
  codec?: string;
  /** How long one item may take. @default 20_000 (ms) */
  itemTimeout?: number;
  /** Where the plugin makes its socket directory. @default the system temp dir */
  unixSocketDir?: string;
  /** Receives each result as it is known. */
  onResult?: (r: ConformanceResult) => void;
}

export interface ConformanceResult {
  item: string;
  passed: boolean;
  /** Why it failed. */
  reason?: string;
}

/** plugwire's default cookie (protocol.md §1), for the start without a PluginClient. */
const COOKIE = {
  key: 'PLUGWIRE_MAGIC_COOKIE',
  value: 'b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41',
} as const;

/** Bytes of the "near the size limit" message: under the default 64 MiB once base64 (json). */
const NEAR_LIMIT_BYTES = 40 * 1024 * 1024;
/** Calls in flight at once in the concurrency item, and how long each one waits. */
const CONCURRENT = 64;
const CONCURRENT_SLEEP_MS = 200;
/** 64 calls of 200 ms must end well before they would one by one (12.8 s): generous. */
const CONCURRENT_BOUND_MS = 4_000;
/** How long a plugin has to exit once its host is gone (protocol.md §9 says 2 s). */
const HOST_GONE_EXIT_MS = 5_000;

type Check = (c: Remote<ConformancePlugin>, client: PluginClient) => Promise<void>;

function fail(why: string): never {
  throw new Error(why);
}

function equal(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(plain(actual));
  const e = JSON.stringify(plain(expected));
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
}

/**
 * Binary as {bytes: [...]}, whatever its class (Buffer has a toJSON of its own), and object
 * keys sorted: a map's order is not part of the protocol.
 */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, plain(x)]),
    );
  }
  return v;
}

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

/** The items, in order; each runs against the same plugin process. */
const ITEMS: Array<[string, Check]> = [
  [
    'echo: every value kind',
    async (c) => {
      const values: unknown[] = [
        null,
        true,
        false,
        0,
        -1,
        2 ** 31,
        2 ** 53 - 1,
        -1.5,
        '',
        'héllo ✓ 😀',
        [],
        [1, 'two', null, [3]],
        {},
        { z: 1, a: { b: [1, { c: null }] }, 'key with spaces': 'x' },
      ];
      for (const v of values) equal(await c.echo(v), v, `echo(${JSON.stringify(v)})`);
    },
  ],
  [
    'echo: binary',
    async (c) => {
      const bytes = new Uint8Array([0, 1, 127, 128, 255]);
      const back = await c.echo(bytes);
      if (!(back instanceof Uint8Array)) fail(`bytes came back as ${typeof back}`);
      equal(back, bytes, 'echo(bytes)');
      equal(await c.echo({ nested: bytes }), { nested: bytes }, 'echo({nested: bytes})');
    },
  ],
  [
    'an error with a string code',
    async (c) => {
      const err = await Promise.resolve(c.fail('E_CONFORMANCE', 'failed on purpose')).then(
        () => fail('fail() succeeded'),
        (e: unknown) => e,
      );
      if (!(err instanceof RemoteError)) fail(`not an error answer: ${String(err)}`);
      equal(err.rpcCode, -32000, 'the JSON-RPC code');
      equal(err.code, 'E_CONFORMANCE', 'data.code');
      equal(err.message, 'failed on purpose', 'the message');
    },
  ],
  [
    'an unknown method: -32601 with data.method',
    async (c) => {
      const unknown = (c as unknown as Record<string, () => Promise<unknown>>).noSuchMethod!;
      const err = await unknown().then(
        () => fail('noSuchMethod() succeeded'),
        (e: unknown) => e,
      );
      if (!(err instanceof RemoteError)) fail(`not an error answer: ${String(err)}`);
      equal(err.rpcCode, -32601, 'the JSON-RPC code');
      equal(err.data, { method: 'noSuchMethod' }, 'data');
    },
  ],
  [
    'a callback into the host',
    async (c) => {
      const seen: number[] = [];
      const sum = await c.callback(5, async (i) => {
        seen.push(i);
        return i * 10;
      });
      equal(sum, 150, 'the sum of the callback results');
      equal(seen, [1, 2, 3, 4, 5], 'the callback calls');
    },
  ],
  [
    'a byte stream from the plugin',
    async (c) => {
      const n = 3 * 1024 * 1024 + 7;
      const chunks: Buffer[] = [];
      for await (const chunk of await c.bytesOut(n)) chunks.push(chunk as Buffer);
      const got = Buffer.concat(chunks);
      if (!got.equals(pattern(n))) fail(`got ${got.length} bytes, not the ${n} expected`);
    },
  ],
  [
    'a byte stream to the plugin',
    async (c) => {
      const data = pattern(2 * 1024 * 1024 + 3);
      let sum = 0;
      for (const b of data) sum = (sum + b) % 65521;
      const stream = Readable.from([data.subarray(0, 1000), data.subarray(1000)], {
        objectMode: false,
      });
      equal(await c.bytesIn(stream), { size: data.length, sum }, 'bytesIn');
    },
  ],
  [
    'an object stream from the plugin',
    async (c) => {
      const items: number[] = [];
      for await (const x of await c.itemsOut(1000)) items.push(x);
      equal(items.length, 1000, 'the number of items');
      equal(
        items.every((x, i) => x === i + 1),
        true,
        'the items are 1…1000 in order',
      );
    },
  ],
  [
    'an object stream to the plugin',
    async (c) => {
      async function* numbers() {
        for (let i = 1; i <= 1000; i++) yield i;
      }
      equal(await c.itemsIn(numbers()), 500500, 'the sum of 1…1000');
    },
  ],
  [
    'cancellation reaches the method',
    async (c) => {
      const before = await c.cancelled();
      await Promise.resolve(c.hang({ timeout: 100 })).then(
        () => fail('hang() answered'),
        () => undefined,
      );
      const deadline = Date.now() + 5_000;
      while ((await c.cancelled()) <= before) {
        if (Date.now() > deadline) fail('the method never saw its cancellation');
        await delay(20);
      }
    },
  ],
  [
    'a message near the size limit',
    async (c) => {
      const data = Buffer.alloc(NEAR_LIMIT_BYTES, 7);
      equal(await c.size(data), NEAR_LIMIT_BYTES, 'size(40 MiB)');
    },
  ],
  [
    `${CONCURRENT} concurrent calls`,
    async (c) => {
      const t = performance.now();
      const results = await Promise.all(
        Array.from({ length: CONCURRENT }, () => c.sleep(CONCURRENT_SLEEP_MS)),
      );
      const ms = performance.now() - t;
      equal(
        results.every((r) => r === CONCURRENT_SLEEP_MS),
        true,
        'every call answered',
      );
      if (ms > CONCURRENT_BOUND_MS) {
        fail(`took ${Math.round(ms)} ms: the plugin does not serve calls concurrently`);
      }
    },
  ],
  [
    'graceful quit',
    async (_c, client) => {
      const status = await client.kill();
      equal(status, { code: 0, signal: null }, 'the exit status after quit');
    },
  ],
];

/**
 * Runs every item against a plugin started from `command`, then checks that it exits when
 * its host is gone. Resolves with the results; never throws for a failing plugin.
 */
export async function runConformance(o: ConformanceOptions): Promise<ConformanceResult[]> {
  const results: ConformanceResult[] = [];
  const report = (r: ConformanceResult) => {
    results.push(r);
    o.onResult?.(r);
  };
  const [command, ...args] = o.command;
  if (!command) throw new TypeError('runConformance needs a command');
  const itemTimeout = o.itemTimeout ?? 20_000;
  const client = new PluginClient({
    command,
    args,
    plugins: { conformance },
    ...(o.codec ? { codecs: [o.codec] } : {}),
    ...(o.unixSocketDir ? { unixSocketDir: o.unixSocketDir } : {}),
    stderr: () => {},
    logger: () => {},
  });
  try {
    let c: Remote<ConformancePlugin>;
    try {
      c = await withTimeout(client.dispense(conformance), itemTimeout);
      report({ item: `start, handshake and dispense (codec ${client.codec})`, passed: true });
    } catch (err) {
      report({ item: 'start, handshake and dispense', passed: false, reason: message(err) });
      return results;
    }
    for (const [item, check] of ITEMS) {
      try {
        await withTimeout(check(c, client), itemTimeout);
        report({ item, passed: true });
      } catch (err) {
        report({ item, passed: false, reason: message(err) });
      }
    }
  } finally {
    await client.kill();
  }
  report(await hostGone(command, args, o));
  return results;
}

/** Starts the plugin as a host would, reads the handshake, then closes stdin: it must exit. */
async function hostGone(
  command: string,
  args: string[],
  o: ConformanceOptions,
): Promise<ConformanceResult> {
  const item = 'exit when the host is gone (stdin EOF)';
  const child = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'ignore'],
    env: {
      ...process.env,
      [COOKIE.key]: COOKIE.value,
      PLUGIN_PROTOCOL_VERSIONS: '1',
      PLUGWIRE_CODECS: o.codec ?? 'msgpack,json',
      ...(o.unixSocketDir ? { PLUGIN_UNIX_SOCKET_DIR: o.unixSocketDir } : {}),
    },
    detached: true,
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let out = '';
  try {
    const handshake = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('\n')) resolve();
      });
      child.once('error', reject);
      child.once('exit', () => reject(new Error('exited before its handshake')));
    });
    await withTimeout(handshake, o.itemTimeout ?? 20_000);
    child.stdin!.end();
    const [code, signal] = await withTimeout(exited, HOST_GONE_EXIT_MS);
    if (code !== 0) return { item, passed: false, reason: `exited with ${code ?? signal}` };
    return { item, passed: true };
  } catch (err) {
    return { item, passed: false, reason: message(err) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
      await exited;
      // A killed plugin cannot remove its socket directory: do it as a host does.
      const [, , network, address] = out.split('\n', 1)[0]!.split('|');
      const dir = address ? dirname(address) : '';
      if (network === 'unix' && basename(dir).startsWith('plugwire-')) {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    child.stdout!.destroy();
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
