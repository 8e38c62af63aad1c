// Object streams over a real unix socket (issue #20 item 4): a host that reads slowly, or
// stops, bounds what a plugin's object stream makes it buffer, and a reader that alternates
// stalls and bursts gets every item in order without hanging. The in-memory pair of the
// unit tests has no socket buffers; this runs the same code over a plugin process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { definePlugin, PluginClient, type Remote } from '@plugwire/sdk';
import { checkLeaks, fixture } from './helpers.js';

const { socketDir } = checkLeaks();

/** A hang must fail the test, not the suite. */
const deadline = { timeout: 60_000 };

interface Ticker {
  ticks(count: number, padBytes: number): AsyncIterable<{ i: number; pad: string }>;
  produced(): number;
}
const ticker = definePlugin<Ticker>({ name: 'ticker', methods: ['ticks', 'produced'] });

async function withTicker(fn: (t: Remote<Ticker>) => Promise<void>): Promise<void> {
  const client = new PluginClient({
    command: process.execPath,
    args: [fixture('sdk-target-plugin')],
    plugins: { ticker },
    unixSocketDir: socketDir,
  });
  try {
    await fn(await client.dispense(ticker));
  } finally {
    await client.kill();
  }
}

/**
 * The plugin's produced count once it has stopped moving. A held producer shows no event
 * to wait on: it is "no progress", so read it until two readings 100 ms apart agree.
 */
async function whenStill(read: () => Promise<number>, ms = 20_000): Promise<number> {
  const end = Date.now() + ms;
  let last = await read();
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await read();
    if (now === last) return now;
    if (Date.now() > end) throw new Error(`the producer was still moving after ${ms} ms (${now})`);
    last = now;
  }
}

const COUNT = 60_000;

test(
  'a host that stops reading an object stream holds the plugin at a bounded distance',
  deadline,
  () =>
    withTicker(async (t) => {
      const it = (await t.ticks(COUNT, 16))[Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.i, 0);
      const held = await whenStill(() => t.produced());
      // One mux window (256 KiB, ~9 000 items of ~30 bytes) plus the socket's and streams'
      // buffers and the receiver's 256 items: far below the 60 000 the plugin would make.
      assert.ok(held < COUNT / 4, `the producer ran ${held} items ahead of a reader that stopped`);
      let expected = 1;
      for (let r = await it.next(); !r.done; r = await it.next()) {
        assert.equal(r.value.i, expected++);
      }
      assert.equal(expected, COUNT);
      assert.equal(await t.produced(), COUNT);
    }),
);

test(
  'a reader that alternates stalls and bursts gets every item of an object stream in order',
  deadline,
  () =>
    withTicker(async (t) => {
      // The pattern of examples/streaming's intermittent hang: the reader pauses the stream
      // (256 items buffered), resumes below 128, with event-loop turns in between.
      let seed = 7;
      const random = () => {
        seed = (seed * 1664525 + 1013904223) >>> 0;
        return seed / 2 ** 32;
      };
      for (let round = 0; round < 6; round++) {
        let expected = 0;
        let burst = 0;
        for await (const item of await t.ticks(10_000, Math.floor(random() * 200))) {
          assert.equal(item.i, expected++);
          if (++burst >= random() * 600) {
            burst = 0;
            await new Promise((r) => (random() < 0.5 ? setImmediate(r) : setTimeout(r, 1)));
          }
        }
        assert.equal(expected, 10_000, `round ${round}`);
      }
    }),
);

test("breaking out of an object stream stops the plugin's producer", deadline, () =>
  withTicker(async (t) => {
    let seen = 0;
    for await (const item of await t.ticks(COUNT, 16)) {
      if (item.i === 1_000) break;
      seen++;
    }
    assert.equal(seen, 1_000);
    const stopped = await whenStill(() => t.produced());
    assert.ok(stopped < COUNT / 4, `the producer went on to ${stopped}`);
  }),
);
