// The raw floor's plugin: the fastest a Node plugin could be. No handshake beyond printing
// its socket path, no multiplexing: every connection says what it is in its first byte.
//
//   'R'                      the binary RPC of bench/rawwire.ts (add, echo)
//   'B' u32 size u32 chunk   `size` bytes to the host in `chunk`-byte socket writes
//   'M'                      a yamux session (@plugwire/mux, loaded on first use); each
//                            stream the host opens sends u32 size u32 chunk, gets the bytes
//
// `node raw.js <dir>`: listens on <dir>/raw-<pid>.sock; exits when stdin ends (the host is
// gone) or on SIGTERM, removing the socket.

import { rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { FrameReader, OP_ADD, TickWriter } from '../rawwire.js';
import { bulkPiece, pump, randomBlock } from '../shared.js';

const path = join(process.argv[2]!, `raw-${process.pid}.sock`);
// bench/run.js --prof: SIGUSR2 toggles a CPU profile of this process.
if (process.env.BENCH_PROFILE) {
  (await import('../profiler.js')).installPluginToggle(process.env.BENCH_PROFILE);
}

let block: Buffer | undefined;
const bulk = (w: NodeJS.WritableStream, size: number, chunk: number) => {
  block ??= randomBlock();
  pump(w, size, (sent) => bulkPiece(block!, sent, chunk, size, false));
};

function serveRpc(socket: Socket, first: Buffer): void {
  const out = new TickWriter(socket);
  // Buffers of frames spread over chunks (1 MiB echoes) are reused once their echo is
  // written: fresh megabytes cost page faults on every request.
  const pool = new Map<number, Buffer[]>();
  const alloc = (size: number) => pool.get(size)?.pop() ?? Buffer.allocUnsafe(size);
  const reader = new FrameReader((buf, start, end) => {
    const id = buf.readUInt32BE(start);
    const op = buf[start + 4]!;
    if (op === OP_ADD) {
      out.ints(id, op, buf.readInt32BE(start + 5) + buf.readInt32BE(start + 9));
    } else if (start === 4 && end === buf.length && buf.length > 64 * 1024) {
      out.bytes(id, op, buf.subarray(start + 5, end), () => {
        const free = pool.get(buf.length) ?? [];
        pool.set(buf.length, free);
        if (free.length < 4) free.push(buf);
      });
    } else {
      out.bytes(id, op, buf.subarray(start + 5, end));
    }
  }, alloc);
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
  if (first.length > 0) reader.push(first);
}

async function serveMux(socket: Socket, first: Buffer): Promise<void> {
  const { createServerSession } = await import('@plugwire/mux');
  if (first.length > 0) socket.unshift(first);
  const session = createServerSession(socket, { enableKeepAlive: false });
  session.on('close', () => socket.destroy());
  session.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.once('readable', function onReadable() {
      const head = stream.read(8) as Buffer | null;
      if (!head) {
        stream.once('readable', onReadable);
        return;
      }
      stream.resume();
      bulk(stream, head.readUInt32BE(0), head.readUInt32BE(4));
    });
  });
}

const server = createServer({ allowHalfOpen: false }, (socket) => {
  socket.on('error', () => {});
  socket.once('readable', function onReadable() {
    const first = socket.read() as Buffer | null;
    if (!first) {
      socket.once('readable', onReadable);
      return;
    }
    const kind = String.fromCharCode(first[0]!);
    if (kind === 'R') serveRpc(socket, first.subarray(1));
    else if (kind === 'M') void serveMux(socket, first.subarray(1));
    else if (kind === 'B' && first.length >= 9) {
      socket.resume();
      bulk(socket, first.readUInt32BE(1), first.readUInt32BE(5));
    } else socket.destroy();
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
