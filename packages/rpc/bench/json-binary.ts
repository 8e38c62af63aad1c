#!/usr/bin/env node
// What the json codec's binary form ({"$bytes": base64}) costs messages that carry no binary,
// against plain JSON and against the obvious alternative, a replacer and a reviver:
//
//   node --import tsx packages/rpc/bench/json-binary.ts
//
// Best of 7 runs of N calls each, in ns per message.

import { jsonCodec } from '../src/codecs/json.js';

const messages: Record<string, unknown> = {
  'add request': { jsonrpc: '2.0', id: 7, method: 'add', params: [1, 2] },
  'kv.put, 20 nested objects': {
    jsonrpc: '2.0',
    id: 7,
    method: 'kv.put',
    params: {
      key: 'user:1234',
      value: {
        name: 'alice',
        tags: ['a', 'b'],
        age: 31,
        nested: Array.from({ length: 20 }, (_, i) => ({ i, s: `x${i}` })),
      },
    },
  },
};

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return raw instanceof Uint8Array ? { $bytes: Buffer.from(raw).toString('base64') } : value;
}

function reviver(_key: string, value: unknown): unknown {
  const v = value as { $bytes?: unknown } | null;
  return v !== null &&
    typeof v === 'object' &&
    typeof v.$bytes === 'string' &&
    Object.keys(v).length === 1
    ? Buffer.from(v.$bytes, 'base64')
    : value;
}

function time(run: () => unknown, n: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / n);
  }
  return best;
}

console.log(
  '| message | JSON.stringify + UTF-8 | with a replacer | jsonCodec.encode | JSON.parse of UTF-8 | with a reviver | jsonCodec.decode |',
);
console.log('|---|---|---|---|---|---|---|');
for (const [name, message] of Object.entries(messages)) {
  const n = name.startsWith('add') ? 500_000 : 100_000;
  const bytes = Buffer.from(JSON.stringify(message));
  const figures = [
    time(() => Buffer.from(JSON.stringify(message)), n),
    time(() => Buffer.from(JSON.stringify(message, replacer)), n),
    time(() => jsonCodec.encode(message), n),
    time(() => JSON.parse(bytes.toString('utf8')), n),
    time(() => JSON.parse(bytes.toString('utf8'), reviver), n),
    time(() => jsonCodec.decode(bytes), n),
  ];
  console.log(`| ${name} | ${figures.map((f) => `${f.toFixed(0)} ns`).join(' | ')} |`);
}
