#!/usr/bin/env node
// RpcPeer against a hand-written binary RPC (the floor) and json-rpc-2.0, between two
// processes over a unix socket. Run from anywhere:
//
//   node --import tsx packages/rpc/bench/peer-vs-raw.ts [--rounds 7] [--only raw,msgpack]
//     [--workloads serial,conc,payload]
//
// Workloads (the fields of design.md's benchmark): serial = 20 000 `add` calls one in flight;
// conc = 50 000 `add` calls with 64 in flight (sliding window); payload = 100 echoes of
// 1 MiB of random bytes, one in flight, payload counted once. All servers stay up; within a
// round the transports take turns in small slices of each workload (measureRound), and the
// median of the rounds is reported.
//
// Every transport is used the way its users would: a call is a function that returns a
// Promise, resolved from a table of pending ids. The raw floor does only what any RPC must:
// a 4-byte length, a 4-byte id and a 1-byte op in front of the payload. It comes in three
// write strategies (see rawSender): one write per message, corked writes per tick, and
// RpcPeer's own FrameWriter (one buffer per tick), so that RpcPeer's batching is not mistaken
// for a lighter protocol.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSONRPCClient, JSONRPCServer, JSONRPCServerAndClient } from 'json-rpc-2.0';
import { jsonCodec } from '../src/codecs/json.js';
import { msgpackCodec } from '../src/codecs/msgpack.js';
import { encodeFrame, FrameDecoder, FrameWriter } from '../src/framing.js';
import { RpcPeer } from '../src/peer.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');
const self = fileURLToPath(import.meta.url);

const transports = [
  'raw',
  'raw-batched',
  'raw-coalesced',
  'msgpack',
  'json',
  'jsonrpc2-ndjson',
  'jsonrpc2-framed',
] as const;
type Transport = (typeof transports)[number];

const SERIAL_CALLS = 20_000;
const CONC_CALLS = 50_000;
const WINDOW = 64;
const PAYLOAD_SIZE = 1024 * 1024;
const PAYLOAD_ECHOES = 100;

interface Client {
  add(a: number, b: number): Promise<number>;
  echo(bytes: Buffer): Promise<Buffer>;
  close(): void;
}

// ------------------------------------------------------------------ raw binary RPC

const OP_ADD = 1;
const OP_ECHO = 2;
const ID_OP = 5; // u32 id, u8 op, after the u32 length

type RawMode = 'raw' | 'raw-batched' | 'raw-coalesced';

/** Sends one raw frame; `fill(buf, at)` writes the payload of `payloadLength` bytes at `at`. */
type RawSend = (
  id: number,
  op: number,
  payloadLength: number,
  fill: (buf: Buffer, at: number) => void,
) => void;

/**
 * raw: a frame is allocated and written per message (socket.write each).
 * raw-batched: the same, but the socket is corked until the end of the tick, so the frames of
 *   a tick leave in one writev syscall.
 * raw-coalesced: frames are built in RpcPeer's FrameWriter (one buffer and one write per tick).
 */
function rawSender(socket: Socket, mode: RawMode): RawSend {
  if (mode === 'raw-coalesced') {
    const w = new FrameWriter(2 ** 32 - 1, (bytes) => socket.write(bytes));
    return (id, op, payloadLength, fill) => {
      w.beginFrame();
      w.ensure(ID_OP + payloadLength);
      w.buf.writeUInt32BE(id, w.pos);
      w.buf[w.pos + 4] = op;
      fill(w.buf, w.pos + ID_OP);
      w.pos += ID_OP + payloadLength;
      w.endFrame();
    };
  }
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  return (id, op, payloadLength, fill) => {
    const frame = Buffer.allocUnsafe(4 + ID_OP + payloadLength);
    frame.writeUInt32BE(ID_OP + payloadLength, 0);
    frame.writeUInt32BE(id, 4);
    frame[8] = op;
    fill(frame, 9);
    if (mode === 'raw-batched' && !corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    socket.write(frame);
  };
}

/** Splits the raw protocol's frames; `onFrame(id, op, payload)`. */
function rawReader(
  socket: Socket,
  onFrame: (id: number, op: number, payload: Buffer) => void,
): void {
  // The same framing as the peer (length-prefixed), so the floor pays the same reassembly.
  const decoder = new FrameDecoder(2 ** 32 - 1, (bytes, start, end) =>
    onFrame(bytes.readUInt32BE(start), bytes[start + 4]!, bytes.subarray(start + ID_OP, end)),
  );
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
}

function serveRaw(socket: Socket, mode: RawMode): void {
  const send = rawSender(socket, mode);
  rawReader(socket, (id, op, payload) => {
    if (op === OP_ADD) {
      const sum = payload.readInt32BE(0) + payload.readInt32BE(4);
      send(id, op, 4, (buf, at) => buf.writeInt32BE(sum, at));
    } else {
      send(id, op, payload.length, (buf, at) => payload.copy(buf, at));
    }
  });
}

function rawClient(socket: Socket, mode: RawMode): Client {
  const send = rawSender(socket, mode);
  const pending = new Map<number, (payload: Buffer) => void>();
  let lastId = 0;
  rawReader(socket, (id, _op, payload) => {
    const resolve = pending.get(id);
    if (resolve !== undefined) {
      pending.delete(id);
      resolve(payload);
    }
  });
  return {
    async add(a, b) {
      const id = ++lastId;
      const payload = await new Promise<Buffer>((resolve) => {
        pending.set(id, resolve);
        send(id, OP_ADD, 8, (buf, at) => {
          buf.writeInt32BE(a, at);
          buf.writeInt32BE(b, at + 4);
        });
      });
      return payload.readInt32BE(0);
    },
    echo(bytes) {
      const id = ++lastId;
      return new Promise<Buffer>((resolve) => {
        pending.set(id, resolve);
        send(id, OP_ECHO, bytes.length, (buf, at) => bytes.copy(buf, at));
      });
    },
    close: () => socket.end(),
  };
}

// ------------------------------------------------------------------ RpcPeer

function servePeer(socket: Socket, codec: typeof jsonCodec): void {
  const peer = new RpcPeer(socket, { codec, name: 'bench-server' });
  peer.handle('add', ([a, b]: [number, number]) => a + b);
  peer.handle('echo', ([bytes]: [Buffer]) => bytes);
}

function peerClient(socket: Socket, codec: typeof jsonCodec): Client {
  const peer = new RpcPeer(socket, { codec, name: 'bench-client' });
  return {
    add: (a, b) => peer.request<number>('add', [a, b]),
    echo: (bytes) => peer.request<Buffer>('echo', [bytes]),
    close: () => void peer.close(),
  };
}

// ------------------------------------------------------------------ json-rpc-2.0

type Send = (payload: unknown) => void;

function jsonRpc2(send: Send): JSONRPCServerAndClient {
  const rpc = new JSONRPCServerAndClient(
    new JSONRPCServer(),
    new JSONRPCClient((payload) => send(payload)),
  );
  rpc.addMethod('add', ([a, b]: [number, number]) => a + b);
  // Binary as base64 strings: what a Node user of a JSON-only library does.
  rpc.addMethod('echo', ([b64]: [string]) => b64);
  return rpc;
}

/** Newline-delimited JSON, as a Node user would wire json-rpc-2.0 to a socket. */
function ndjson(socket: Socket): JSONRPCServerAndClient {
  const rpc = jsonRpc2((payload) => socket.write(`${JSON.stringify(payload)}\n`));
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    buffered += text;
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      void rpc.receiveAndSend(JSON.parse(line));
      nl = buffered.indexOf('\n');
    }
  });
  return rpc;
}

/** json-rpc-2.0's dispatch on plugwire's framing and json codec: isolates its dispatch cost. */
function framed(socket: Socket): JSONRPCServerAndClient {
  const rpc = jsonRpc2((payload) => socket.write(encodeFrame(jsonCodec.encode(payload))));
  const decoder = new FrameDecoder(2 ** 32 - 1, (bytes, start, end) => {
    void rpc.receiveAndSend(jsonCodec.decode(bytes, start, end) as never);
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  return rpc;
}

function jsonRpc2Client(rpc: JSONRPCServerAndClient, socket: Socket): Client {
  return {
    add: (a, b) => rpc.request('add', [a, b]) as Promise<number>,
    echo: async (bytes) =>
      Buffer.from((await rpc.request('echo', [bytes.toString('base64')])) as string, 'base64'),
    close: () => socket.end(),
  };
}

// ------------------------------------------------------------------ server process

function serve(transport: Transport, path: string): void {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    switch (transport) {
      case 'raw':
      case 'raw-batched':
      case 'raw-coalesced':
        return serveRaw(socket, transport);
      case 'msgpack':
        return servePeer(socket, msgpackCodec);
      case 'json':
        return servePeer(socket, jsonCodec);
      case 'jsonrpc2-ndjson':
        return void ndjson(socket);
      case 'jsonrpc2-framed':
        return void framed(socket);
    }
  });
  server.listen(path, () => process.stdout.write('ready\n'));
  // process.exit (not the default SIGTERM death) so that --cpu-prof writes its profile.
  process.on('SIGTERM', () => process.exit(0));
}

// ------------------------------------------------------------------ client side

interface Result {
  serial_cps: number;
  serial_p50_us: number;
  serial_p99_us: number;
  /** CPU time per call of the client and the server process during the serial workload. */
  serial_client_cpu_us: number;
  serial_server_cpu_us: number;
  conc_cps: number;
  /** CPU time per call of the client and the server process during the conc workload. */
  conc_client_cpu_us: number;
  conc_server_cpu_us: number;
  payload_mbs: number;
}

async function startServer(transport: Transport): Promise<{ child: ChildProcess; path: string }> {
  const path = join(tmpdir(), `plugwire-bench-${process.pid}-${transport}.sock`);
  rmSync(path, { force: true });
  // BENCH_CPU_PROF=<dir> profiles the servers too (node --cpu-prof), for `node --cpu-prof`
  // runs of this script.
  const prof = process.env.BENCH_CPU_PROF;
  const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const child = spawn(
    process.execPath,
    [...flags, '--import', 'tsx', self, 'serve', transport, path],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    once(child, 'exit').then(() => {
      throw new Error(`server for ${transport} exited`);
    }),
  ])) as [Buffer];
  if (!line.toString().startsWith('ready')) throw new Error(`unexpected: ${line}`);
  return { child, path };
}

async function connectClient(transport: Transport, path: string): Promise<Client> {
  const socket = connect(path);
  await once(socket, 'connect');
  switch (transport) {
    case 'raw':
    case 'raw-batched':
    case 'raw-coalesced':
      return rawClient(socket, transport);
    case 'msgpack':
      return peerClient(socket, msgpackCodec);
    case 'json':
      return peerClient(socket, jsonCodec);
    case 'jsonrpc2-ndjson':
      return jsonRpc2Client(ndjson(socket), socket);
    case 'jsonrpc2-framed':
      return jsonRpc2Client(framed(socket), socket);
  }
}

async function serial(client: Client, calls: number): Promise<number[]> {
  const latencies = new Array<number>(calls);
  for (let i = 0; i < calls; i++) {
    const t = process.hrtime.bigint();
    const r = await client.add(i, 1);
    latencies[i] = Number(process.hrtime.bigint() - t);
    if (r !== i + 1) throw new Error(`add(${i}, 1) returned ${r}`);
  }
  return latencies;
}

async function concurrent(client: Client, calls: number, window: number): Promise<void> {
  let issued = 0;
  const worker = async () => {
    while (issued < calls) {
      const i = issued++;
      const r = await client.add(i, 2);
      if (r !== i + 2) throw new Error(`add(${i}, 2) returned ${r}`);
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

async function payload(client: Client, echoes: number, data: Buffer): Promise<void> {
  for (let i = 0; i < echoes; i++) {
    const back = await client.echo(data);
    if (back.length !== data.length || back[12345] !== data[12345]) throw new Error('bad echo');
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Running {
  transport: Transport;
  child: ChildProcess;
  path: string;
  client: Client;
}

async function start(transport: Transport, data: Buffer): Promise<Running> {
  const { child, path } = await startServer(transport);
  const client = await connectClient(transport, path);
  // Warm-up: let both processes optimise the hot path before timing it.
  await serial(client, 5000);
  await concurrent(client, 100_000, WINDOW);
  await payload(client, 10, data);
  return { transport, child, path, client };
}

async function stop(r: Running): Promise<void> {
  r.client.close();
  r.child.kill('SIGTERM');
  if (r.child.exitCode === null) await once(r.child, 'exit');
  rmSync(r.path, { force: true });
}

type Workload = 'serial' | 'conc' | 'payload';

/** CPU time a process has used, in ns (Linux: /proc/<pid>/schedstat), or NaN elsewhere. */
function cpuNs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

/**
 * One round: each workload is cut into SLICES slices and, slice by slice, every transport runs
 * its share in turn (order rotated), so that a noisy second of the machine costs every
 * transport about the same instead of spoiling one of them.
 */
const SLICES = 10;

async function measureRound(
  running: Running[],
  data: Buffer,
  workloads: Set<Workload>,
  round: number,
): Promise<Map<Transport, Result>> {
  const results = new Map<Transport, Result>(
    running.map((r) => [
      r.transport,
      {
        serial_cps: Number.NaN,
        serial_p50_us: Number.NaN,
        serial_p99_us: Number.NaN,
        serial_client_cpu_us: Number.NaN,
        serial_server_cpu_us: Number.NaN,
        conc_cps: Number.NaN,
        conc_client_cpu_us: Number.NaN,
        conc_server_cpu_us: Number.NaN,
        payload_mbs: Number.NaN,
      },
    ]),
  );
  const inTurn = async (work: (r: Running) => Promise<void>) => {
    for (let slice = 0; slice < SLICES; slice++) {
      for (let i = 0; i < running.length; i++) {
        await work(running[(i + slice + round) % running.length]!);
      }
    }
  };
  const elapsed = new Map<Transport, number>();
  const add = (t: Transport, ns: number) => elapsed.set(t, (elapsed.get(t) ?? 0) + ns);
  if (workloads.has('serial')) {
    elapsed.clear();
    const latencies = new Map<Transport, number[]>(running.map((r) => [r.transport, []]));
    const cpu = new Map<Transport, [number, number]>(running.map((r) => [r.transport, [0, 0]]));
    await inTurn(async (r) => {
      const clientCpu = cpuNs(process.pid);
      const serverCpu = cpuNs(r.child.pid!);
      const t = process.hrtime.bigint();
      latencies.get(r.transport)!.push(...(await serial(r.client, SERIAL_CALLS / SLICES)));
      add(r.transport, Number(process.hrtime.bigint() - t));
      const c = cpu.get(r.transport)!;
      c[0] += cpuNs(process.pid) - clientCpu;
      c[1] += cpuNs(r.child.pid!) - serverCpu;
    });
    for (const [transport, l] of latencies) {
      const res = results.get(transport)!;
      l.sort((x, y) => x - y);
      res.serial_cps = SERIAL_CALLS / (elapsed.get(transport)! / 1e9);
      res.serial_p50_us = percentile(l, 50) / 1000;
      res.serial_p99_us = percentile(l, 99) / 1000;
      const [client, server] = cpu.get(transport)!;
      res.serial_client_cpu_us = client / SERIAL_CALLS / 1000;
      res.serial_server_cpu_us = server / SERIAL_CALLS / 1000;
    }
  }
  if (workloads.has('conc')) {
    elapsed.clear();
    const cpu = new Map<Transport, [number, number]>(running.map((r) => [r.transport, [0, 0]]));
    await inTurn(async (r) => {
      const clientCpu = cpuNs(process.pid);
      const serverCpu = cpuNs(r.child.pid!);
      const t = process.hrtime.bigint();
      await concurrent(r.client, CONC_CALLS / SLICES, WINDOW);
      add(r.transport, Number(process.hrtime.bigint() - t));
      const c = cpu.get(r.transport)!;
      c[0] += cpuNs(process.pid) - clientCpu;
      c[1] += cpuNs(r.child.pid!) - serverCpu;
    });
    for (const [transport, [client, server]] of cpu) {
      const res = results.get(transport)!;
      res.conc_cps = CONC_CALLS / (elapsed.get(transport)! / 1e9);
      res.conc_client_cpu_us = client / CONC_CALLS / 1000;
      res.conc_server_cpu_us = server / CONC_CALLS / 1000;
    }
  }
  if (workloads.has('payload')) {
    elapsed.clear();
    await inTurn(async (r) => {
      const t = process.hrtime.bigint();
      await payload(r.client, PAYLOAD_ECHOES / SLICES, data);
      add(r.transport, Number(process.hrtime.bigint() - t));
    });
    for (const [transport, ns] of elapsed) {
      results.get(transport)!.payload_mbs = (PAYLOAD_ECHOES * data.length) / 2 ** 20 / (ns / 1e9);
    }
  }
  return results;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const roundsArg = args.indexOf('--rounds');
  const rounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : 7;
  const onlyArg = args.indexOf('--only');
  const selected: Transport[] =
    onlyArg >= 0
      ? (args[onlyArg + 1]!.split(',') as Transport[]).filter((t) => transports.includes(t))
      : [...transports];
  const workloadArg = args.indexOf('--workloads');
  const workloads = new Set<Workload>(
    (workloadArg >= 0 ? args[workloadArg + 1]! : 'serial,conc,payload').split(',') as Workload[],
  );
  const data = randomBytes(PAYLOAD_SIZE);
  const results = new Map<Transport, Result[]>(selected.map((t) => [t, []]));
  console.log(
    `node ${process.version}, ${rounds} interleaved rounds; serial ${SERIAL_CALLS} calls, ` +
      `conc ${CONC_CALLS} calls / ${WINDOW} in flight, payload ${PAYLOAD_ECHOES} x 1 MiB echo`,
  );
  // Every server runs for the whole benchmark and the rounds alternate between them, so that
  // whatever else the machine does at some moment is shared out evenly.
  const running: Running[] = [];
  try {
    for (const transport of selected) running.push(await start(transport, data));
    for (let round = 0; round < rounds; round++) {
      for (const [transport, r] of await measureRound(running, data, workloads, round)) {
        results.get(transport)!.push(r);
        console.log(
          `round ${round + 1} ${transport.padEnd(16)} serial ${r.serial_cps.toFixed(0).padStart(6)}/s ` +
            `p50 ${r.serial_p50_us.toFixed(1)}us p99 ${r.serial_p99_us.toFixed(1)}us  ` +
            `conc ${r.conc_cps.toFixed(0).padStart(6)}/s (cpu/call client ${r.conc_client_cpu_us.toFixed(2)}us server ${r.conc_server_cpu_us.toFixed(2)}us)  payload ${r.payload_mbs.toFixed(0).padStart(5)} MB/s`,
        );
      }
    }
  } finally {
    for (const r of running) await stop(r);
  }
  const keys = [
    'serial_cps',
    'serial_p50_us',
    'serial_p99_us',
    'serial_client_cpu_us',
    'serial_server_cpu_us',
    'conc_cps',
    'conc_client_cpu_us',
    'conc_server_cpu_us',
    'payload_mbs',
  ] as const;
  const medians = new Map(
    [...results].map(([t, rs]) => [
      t,
      Object.fromEntries(keys.map((k) => [k, median(rs.map((r) => r[k]))])) as unknown as Result,
    ]),
  );
  console.log('\nmedians of the rounds');
  console.log(
    '| transport | serial calls/s | p50 µs | p99 µs | CPU µs/call client + server | 64-in-flight calls/s | CPU µs/call client + server | 1 MiB echo MB/s |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [t, m] of medians) {
    console.log(
      `| ${t} | ${m.serial_cps.toFixed(0)} | ${m.serial_p50_us.toFixed(1)} | ` +
        `${m.serial_p99_us.toFixed(1)} | ${m.serial_client_cpu_us.toFixed(2)} + ${m.serial_server_cpu_us.toFixed(2)} | ${m.conc_cps.toFixed(0)} | ` +
        `${m.conc_client_cpu_us.toFixed(2)} + ${m.conc_server_cpu_us.toFixed(2)} | ${m.payload_mbs.toFixed(0)} |`,
    );
  }
  // Ratios are taken round by round (both figures of a ratio come from the same minute of the
  // machine), then their median is reported.
  const floors = (['raw', 'raw-batched', 'raw-coalesced'] as const).filter((f) => results.has(f));
  if (floors.length === 0) return;
  console.log('\nratio to each raw floor: median of per-round ratios');
  console.log('| transport | floor | serial | 64 in flight | 1 MiB echo |');
  console.log('|---|---|---|---|---|');
  for (const [t, rs] of results) {
    if (t.startsWith('raw')) continue;
    for (const floor of floors) {
      const base = results.get(floor)!;
      const ratio = (k: 'serial_cps' | 'conc_cps' | 'payload_mbs') =>
        median(rs.map((r, i) => r[k] / base[i]![k])).toFixed(2);
      console.log(
        `| ${t} | ${floor} | ${ratio('serial_cps')}x | ${ratio('conc_cps')}x | ${ratio('payload_mbs')}x |`,
      );
    }
  }
}

if (process.argv[2] === 'serve') serve(process.argv[3] as Transport, process.argv[4]!);
else await main();
