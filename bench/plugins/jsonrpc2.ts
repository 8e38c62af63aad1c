// The json-rpc-2.0 contender's plugin: the `json-rpc-2.0` package on a unix socket with
// newline-delimited JSON (bench/ndjson.ts), binary as base64. Its bulk transfer is what a
// user of a JSON-only library does: the bytes as base64 notifications ("chunk"), then the
// answer to the request, honouring the socket's backpressure.
//
// `node jsonrpc2.js <dir>`: listens on <dir>/jsonrpc2-<pid>.sock, prints the path; exits when
// stdin ends or on SIGTERM.

import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ndjsonPeer } from '../ndjson.js';
import { bulkPiece, randomBlock } from '../shared.js';

const path = join(process.argv[2]!, `jsonrpc2-${process.pid}.sock`);
// bench/run.js --prof: SIGUSR2 toggles a CPU profile of this process.
if (process.env.BENCH_PROFILE) {
  (await import('../profiler.js')).installPluginToggle(process.env.BENCH_PROFILE);
}

let block: Buffer | undefined;

const server = createServer((socket) => {
  socket.on('error', () => {});
  const rpc = ndjsonPeer(socket);
  rpc.addMethod('add', ([a, b]: [number, number]) => a + b);
  rpc.addMethod('echo', ([b64]: [string]) => b64);
  rpc.addMethod('bulk', async ([size, chunk]: [number, number]) => {
    block ??= randomBlock();
    for (let sent = 0; sent < size; ) {
      const piece = bulkPiece(block, sent, chunk, size, false);
      sent += piece.length;
      rpc.notify('chunk', [piece.toString('base64')]);
      if (socket.writableNeedDrain) {
        await new Promise<void>((resolve) => {
          const done = () => {
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          };
          socket.on('drain', done);
          socket.on('close', done);
        });
      }
    }
    return size;
  });
});

const stop = () => {
  server.close();
  rmSync(path, { force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
server.listen(path, () => process.stdout.write(`${path}\n`));
