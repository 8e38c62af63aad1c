// The plugwire contender's plugin: `calc` from bench/shared.ts through the SDK
// (definePlugin), plus `broker`, a plugin written by hand on the raw MuxBroker, for the
// bulk transfer without the SDK's stream marshalling and for the 10 000-streams case.
//
// Started by bench/driver.ts as `node plugwire.js <tag>`; the tag (the run's temp dir) only
// marks the process as the bench's.

import { Readable } from 'node:stream';
import type { Plugin, RpcPeer } from '@plugwire/core';
import { serve } from '@plugwire/sdk';
import { type Calc, calc } from '../calc.js';
import { bulkPiece, pump, randomBlock } from '../shared.js';

let block: Buffer | undefined;
/** Bytes the bulk streams have produced so far (the slow-reader case compares with what was read). */
let produced = 0;
const theBlock = () => (block ??= randomBlock());

const impl: Calc = {
  add: (a, b) => a + b,
  echo: (data) => data,
  bulk(size, chunk, fresh) {
    let sent = 0;
    return new Readable({
      highWaterMark: chunk,
      read() {
        if (sent >= size) {
          this.push(null);
          return;
        }
        const piece = bulkPiece(theBlock(), sent, chunk, size, fresh);
        sent += piece.length;
        produced += piece.length;
        this.push(piece);
      },
    });
  },
};

const broker: Plugin<RpcPeer> = {
  name: 'broker',
  methods: ['bulk', 'echoStreams', 'produced'],
  server(peer, ctx) {
    // A broker stream of raw bytes: the id in the answer, the bytes once the host dials it.
    peer.handle('bulk', ([size, chunk]: [number, number]) => {
      const id = ctx.broker.nextId();
      ctx.broker.accept(id).then(
        (stream) => {
          stream.resume(); // the host sends nothing; let its FIN through
          pump(stream, size, (sent) => bulkPiece(theBlock(), sent, chunk, size, false));
        },
        () => {},
      );
      return id;
    });
    peer.handle('produced', () => produced);
    // `n` broker ids, each echoing what the host writes until the host's FIN.
    peer.handle('echoStreams', ([n]: [number]) => {
      const ids: number[] = [];
      for (let i = 0; i < n; i++) {
        const id = ctx.broker.nextId();
        ids.push(id);
        ctx.broker.accept(id, { timeout: 60_000 }).then(
          (stream) => stream.pipe(stream),
          () => {},
        );
      }
      return ids;
    });
  },
};

// bench/run.js --prof: SIGUSR2 toggles a CPU profile of this process.
if (process.env.BENCH_PROFILE) {
  (await import('../profiler.js')).installPluginToggle(process.env.BENCH_PROFILE);
}
await serve({ plugins: { calc: calc.implement(impl), broker } });
