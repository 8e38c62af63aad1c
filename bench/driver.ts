// The host side of one contender, in a process of its own (so that contenders never share a
// heap or a garbage collector): bench/run.ts starts `node driver.js <contender> <dir>`,
// writes one JSON command per line on its stdin, and reads one JSON result per line from
// its stdout. Every figure is timed here, around the calls only. The Go contender has the
// same driver in Go (bench/go/main.go).
//
// Contenders: plugwire-msgpack, plugwire-json (PluginClient + definePlugin), raw (the floor:
// bench/rawwire.ts on a plain unix socket), jsonrpc2 (json-rpc-2.0, newline-delimited JSON).
// BENCH_STARTUP_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p") is passed to the plugins
// of cold starts; BENCH_PROFILE (a dir) profiles each measured command (bench/profiler.ts).

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { Plugin, RpcPeer } from '@plugwire/core';
import { createClientSession } from '@plugwire/mux';
import { PluginClient } from '@plugwire/sdk';
import { calc } from './calc.js';
import { ndjsonPeer } from './ndjson.js';
import { FrameReader, OP_ADD, OP_ECHO, TickWriter } from './rawwire.js';
import { cpuMs, MiB, percentile, rssMiB } from './shared.js';

const contender = process.argv[2]!;
const dir = process.argv[3]!;
/** Node flags for the plugins of cold starts (run.js --prof: --cpu-prof). */
const startupArgs = (process.env.BENCH_STARTUP_NODE_ARGS ?? '').split(' ').filter(Boolean);
const pluginArgs = () => (profilePlugin ? [] : startupArgs);
/** --prof: where measured commands write their profiles (see bench/profiler.ts). */
const profileDir = process.env.BENCH_PROFILE;
/** Only the long-lived plugin profiles its workloads; cold starts are profiled with --cpu-prof. */
let profilePlugin = false;
const pluginEnv = () => ({ BENCH_PROFILE: profilePlugin ? profileDir : undefined });
const pluginJs = (name: string) => fileURLToPath(new URL(`./plugins/${name}.js`, import.meta.url));

/** A running plugin, as the workload sees it. */
interface Conn {
  pid: number;
  add(a: number, b: number): Promise<number>;
  echo(data: Buffer): Promise<Buffer>;
  /** Plugin → host `size` bytes; resolves with the bytes that arrived. `via` picks the path. */
  bulk(size: number, chunk: number, via?: string): Promise<number>;
  close(): Promise<void>;
  /** plugwire only: the client, for the scale cases. */
  client?: PluginClient;
}

function countToEnd(r: Readable): Promise<number> {
  let n = 0;
  r.on('data', (c: Buffer) => {
    n += c.length;
  });
  return new Promise((resolve, reject) => {
    r.once('end', () => resolve(n));
    r.once('error', reject);
  });
}

// ---- plugwire ------------------------------------------------------------------------------

/** The host half of the hand-written `broker` plugin: dispense gives the RPC peer itself. */
const brokerPlugin: Plugin<RpcPeer> & { readonly name: string } = { name: 'broker' };

async function launchPlugwire(codec: string): Promise<Conn> {
  const client = new PluginClient({
    command: process.execPath,
    args: [...pluginArgs(), pluginJs('plugwire'), dir],
    plugins: { calc, broker: brokerPlugin },
    codecs: [codec],
    unixSocketDir: dir,
    env: pluginEnv(),
    logger: (r) => {
      if (r.level === 'error' || r.level === 'warn')
        process.stderr.write(`[plugin] ${r.message}\n`);
    },
  });
  try {
    const c = await client.dispense(calc);
    if ((await c.add(1, 2)) !== 3) throw new Error('add(1, 2) !== 3');
    return {
      pid: client.pid!,
      client,
      add: (a, b) => c.add(a, b),
      echo: (data) => c.echo(data) as Promise<Buffer>,
      async bulk(size, chunk, via = 'sdk') {
        if (via === 'sdk') return countToEnd(await c.bulk(size, chunk, false));
        // The raw MuxBroker stream, without the SDK's marshalling of a Readable.
        const peer = await client.dispense(brokerPlugin);
        const id = await peer.request<number>('bulk', [size, chunk]);
        const stream = await client.broker.dial(id);
        stream.end();
        return countToEnd(stream);
      },
      close: async () => {
        await client.kill();
      },
    };
  } catch (err) {
    await client.kill();
    throw err;
  }
}

// ---- raw floor and json-rpc-2.0: a plain process that prints its socket path -----------------

async function spawnPlain(
  name: string,
): Promise<{ child: ChildProcess; path: string; stop: () => Promise<void> }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...pluginEnv() };
  if (env.BENCH_PROFILE === undefined) delete env.BENCH_PROFILE;
  const child = spawn(process.execPath, [...pluginArgs(), pluginJs(name), dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env,
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.stdin!.end();
      await exited;
    }
  };
  const lines = createInterface({ input: child.stdout! });
  const [path] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(() => {
      throw new Error(`${name} plugin exited before printing its socket`);
    }),
  ])) as [string];
  lines.close();
  child.stdout!.resume();
  return { child, path, stop };
}

async function dial(path: string, first: Buffer): Promise<Socket> {
  const socket = connect(path);
  await once(socket, 'connect');
  socket.write(first);
  return socket;
}

async function launchRaw(): Promise<Conn> {
  const { child, path, stop } = await spawnPlain('raw');
  try {
    const socket = await dial(path, Buffer.from('R'));
    const out = new TickWriter(socket);
    const pending = new Map<number, (buf: Buffer, start: number, end: number) => void>();
    let lastId = 0;
    const reader = new FrameReader((buf, start, end) => {
      const id = buf.readUInt32BE(start);
      const done = pending.get(id);
      if (done) {
        pending.delete(id);
        done(buf, start + 5, end);
      }
    });
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    const add = (a: number, b: number) =>
      new Promise<number>((resolve) => {
        const id = ++lastId;
        pending.set(id, (buf, start) => resolve(buf.readInt32BE(start)));
        out.ints(id, OP_ADD, a, b);
      });
    if ((await add(1, 2)) !== 3) throw new Error('add(1, 2) !== 3');
    return {
      pid: child.pid!,
      add,
      echo: (data) =>
        new Promise<Buffer>((resolve) => {
          const id = ++lastId;
          pending.set(id, (buf, start, end) => resolve(buf.subarray(start, end)));
          out.bytes(id, OP_ECHO, data);
        }),
      async bulk(size, chunk, via = 'socket') {
        const head = Buffer.alloc(9);
        head.writeUInt32BE(size, 1);
        head.writeUInt32BE(chunk, 5);
        if (via === 'socket') {
          head[0] = 'B'.charCodeAt(0);
          const s = await dial(path, head);
          try {
            return await countToEnd(s);
          } finally {
            s.destroy();
          }
        }
        // One yamux stream (@plugwire/mux alone) over a fresh socket.
        const s = await dial(path, Buffer.from('M'));
        const session = createClientSession(s, { enableKeepAlive: false });
        try {
          const stream = session.openStream();
          stream.end(head.subarray(1));
          return await countToEnd(stream);
        } finally {
          session.destroy();
          s.destroy();
        }
      },
      close: async () => {
        socket.destroy();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function launchJsonRpc2(): Promise<Conn> {
  const { child, path, stop } = await spawnPlain('jsonrpc2');
  try {
    const socket = connect(path);
    await once(socket, 'connect');
    const rpc = ndjsonPeer(socket);
    let received = 0;
    rpc.addMethod('chunk', ([b64]: [string]) => {
      received += Buffer.from(b64, 'base64').length;
    });
    const add = (a: number, b: number) => rpc.request('add', [a, b]) as Promise<number>;
    if ((await add(1, 2)) !== 3) throw new Error('add(1, 2) !== 3');
    return {
      pid: child.pid!,
      add,
      echo: async (data) =>
        Buffer.from((await rpc.request('echo', [data.toString('base64')])) as string, 'base64'),
      async bulk(size, chunk) {
        received = 0;
        await rpc.request('bulk', [size, chunk]);
        return received;
      },
      close: async () => {
        socket.destroy();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Every plugin started and not yet closed, to stop them all when the orchestrator goes. */
const live = new Set<Conn>();

async function launch(): Promise<Conn> {
  const c = await launchOne();
  live.add(c);
  const close = c.close;
  c.close = () => {
    live.delete(c);
    return close();
  };
  return c;
}

function launchOne(): Promise<Conn> {
  switch (contender) {
    case 'plugwire-msgpack':
      return launchPlugwire('msgpack');
    case 'plugwire-json':
      return launchPlugwire('json');
    case 'raw':
      return launchRaw();
    case 'jsonrpc2':
      return launchJsonRpc2();
  }
  throw new Error(`unknown contender ${contender}`);
}

// ---- the workload --------------------------------------------------------------------------

interface Command {
  op: string;
  n?: number;
  window?: number;
  size?: number;
  chunk?: number;
  via?: string;
  seconds?: number;
  warm?: { serial: number; conc: number; payload: number; bulk: number; vias?: string[] };
}

let conn: Conn | undefined;
let payloadData: Buffer | undefined;

let profiles = 0;

/**
 * Runs `work` and reports the CPU both processes spent on it. With --prof, both sides are
 * profiled around it (bench/profiler.ts), as `<contender>-<name>-<n>-{host,plugin}`.
 */
async function measured<T extends object>(
  name: string,
  work: () => Promise<T>,
): Promise<T & { host_cpu_ms: number; plugin_cpu_ms: number }> {
  const pid = conn!.pid;
  const profile = profileDir && contender !== 'go' ? await startProfiles(pid) : undefined;
  const host0 = cpuMs(process.pid);
  const plugin0 = cpuMs(pid);
  const r = await work();
  const cpu = { host_cpu_ms: cpuMs(process.pid) - host0, plugin_cpu_ms: cpuMs(pid) - plugin0 };
  await profile?.(`${contender}-${name}-${++profiles}`);
  return { ...r, ...cpu };
}

async function startProfiles(pid: number): Promise<(name: string) => Promise<void>> {
  const { Profiler } = await import('./profiler.js');
  const { existsSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const host = new Profiler();
  await host.start();
  process.kill(pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 100)); // the plugin's profiler is running
  return async (name) => {
    writeFileSync(join(profileDir!, `.next-${pid}`), name);
    process.kill(pid, 'SIGUSR2');
    await host.stop(join(profileDir!, `${name}-host.cpuprofile`));
    const file = join(profileDir!, `${name}-plugin.cpuprofile`);
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  };
}

async function serial(n: number) {
  const c = conn!;
  const lat = new Float64Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await c.add(i, 1);
    lat[i] = performance.now() - t;
    if (r !== i + 1) throw new Error(`add(${i}, 1) returned ${r}`);
  }
  const ms = performance.now() - t0;
  const sorted = [...lat].sort((a, b) => a - b);
  return {
    cps: n / (ms / 1000),
    p50_us: percentile(sorted, 50) * 1000,
    p99_us: percentile(sorted, 99) * 1000,
  };
}

async function concurrent(n: number, window: number) {
  const c = conn!;
  let issued = 0;
  const worker = async () => {
    while (issued < n) {
      const i = issued++;
      const r = await c.add(i, 2);
      if (r !== i + 2) throw new Error(`add(${i}, 2) returned ${r}`);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: window }, worker));
  return { cps: n / ((performance.now() - t0) / 1000) };
}

async function payload(n: number, size: number) {
  const c = conn!;
  if (payloadData?.length !== size) payloadData = randomBytes(size);
  const data = payloadData;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const back = await c.echo(data);
    if (back.length !== size || back[12345 % size] !== data[12345 % size]) {
      throw new Error('bad echo');
    }
  }
  return { mbs: (n * size) / MiB / ((performance.now() - t0) / 1000) };
}

async function bulk(size: number, chunk: number, via?: string) {
  const t0 = performance.now();
  const n = await conn!.bulk(size, chunk, via);
  const ms = performance.now() - t0;
  if (n !== size) throw new Error(`bulk: ${n} bytes arrived, ${size} expected`);
  return { mbs: size / MiB / (ms / 1000) };
}

async function startup(n: number) {
  const startup_ms: number[] = [];
  const rss_mib: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const c = await launch();
    startup_ms.push(performance.now() - t0);
    rss_mib.push(rssMiB(c.pid));
    await c.close();
  }
  return { startup_ms, rss_mib };
}

/** `n` plugins started at once by this host, each until its first add(1,2) result. */
async function many(n: number) {
  const host0 = rssMiB(process.pid);
  const t0 = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: n }, () => launch()));
  const total_ms = performance.now() - t0;
  const conns = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const plugins_rss_mib = conns.reduce((sum, c) => sum + rssMiB(c.pid), 0);
  const host_rss_mib = rssMiB(process.pid);
  await Promise.all(conns.map((c) => c.close()));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return { total_ms, plugins_rss_mib, host_rss_mib, host_rss_growth_mib: host_rss_mib - host0 };
}

/** plugwire: `n` broker streams on the one session at once: open, echo 40 bytes, close. */
async function streams(n: number) {
  const client = conn!.client;
  if (!client) throw new Error('streams: plugwire only');
  const peer = await client.dispense(brokerPlugin);
  const message = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"add"}\n');
  const ids = await peer.request<number[]>('echoStreams', [n]);
  const t0 = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      const s = await client.broker.dial(id, { timeout: 60_000 });
      s.end(message);
      const n = await countToEnd(s);
      await finished(s);
      if (n !== message.length) throw new Error(`stream ${id}: ${n} bytes echoed`);
    }),
  );
  const ms = performance.now() - t0;
  return { total_ms: ms, per_stream_us: (ms * 1000) / n };
}

/**
 * plugwire: a fresh plugin sends `size` bytes (fresh 64 KiB buffers) as a byte stream to a
 * host that reads 1 MiB/s for `seconds`; RSS of both sampled every 250 ms, and how much the
 * plugin produced against how much was read: flow control must hold the plugin back.
 */
async function slow(size: number, seconds: number) {
  const c = await launch();
  try {
    const client = c.client;
    if (!client) throw new Error('slow: plugwire only');
    const remote = await client.dispense(calc);
    const stats = await client.dispense(brokerPlugin);
    const mem = () => process.memoryUsage();
    const before = {
      host: mem().rss / MiB,
      hostBuffers: mem().arrayBuffers / MiB,
      plugin: rssMiB(c.pid),
    };
    const samples: Array<{
      t: number;
      host: number;
      hostBuffers: number;
      plugin: number;
      read: number;
    }> = [];
    const r = await remote.bulk(size, 64 * 1024, true);
    const rate = MiB; // bytes per second
    let read = 0;
    const t0 = performance.now();
    let resume: NodeJS.Timeout | undefined;
    r.on('data', (chunk: Buffer) => {
      read += chunk.length;
      r.pause();
      // Resume when the bytes read so far are due at 1 MiB/s.
      const due = (read / rate) * 1000 - (performance.now() - t0);
      resume = setTimeout(() => r.resume(), Math.max(0, due));
    });
    r.on('error', () => {});
    const sampler = setInterval(() => {
      const m = mem();
      samples.push({
        t: Math.round(performance.now() - t0),
        host: m.rss / MiB,
        hostBuffers: m.arrayBuffers / MiB,
        plugin: rssMiB(c.pid),
        read,
      });
    }, 250);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    clearInterval(sampler);
    clearTimeout(resume);
    const produced = await stats.request<number>('produced');
    const readAtEnd = read;
    r.destroy();
    // The plugin must still serve after the reader gave up.
    if ((await c.add(2, 3)) !== 5) throw new Error('add after slow reader');
    const max = (k: 'host' | 'hostBuffers' | 'plugin') => Math.max(...samples.map((s) => s[k]));
    return {
      seconds,
      read_mib: readAtEnd / MiB,
      produced_mib: produced / MiB,
      ahead_kib: (produced - readAtEnd) / 1024,
      host_rss_before_mib: before.host,
      host_rss_max_mib: max('host'),
      host_buffers_before_mib: before.hostBuffers,
      host_buffers_max_mib: max('hostBuffers'),
      plugin_rss_before_mib: before.plugin,
      plugin_rss_max_mib: max('plugin'),
      samples,
    };
  } finally {
    await c.close();
  }
}

async function run(cmd: Command): Promise<object> {
  switch (cmd.op) {
    case 'startup':
      return startup(cmd.n!);
    case 'start': {
      profilePlugin = true;
      conn = await launch();
      profilePlugin = false;
      const w = cmd.warm;
      if (w) {
        // Let both processes optimise the hot paths before anything is timed.
        await serial(w.serial);
        await concurrent(w.conc, 64);
        await payload(w.payload, MiB);
        // every bulk path that is measured later (plugwire: the SDK and the raw broker)
        if (w.bulk > 0) for (const via of w.vias ?? [undefined]) await bulk(w.bulk, 64 * 1024, via);
      }
      return { pid: conn.pid };
    }
    case 'serial':
      return measured('serial', () => serial(cmd.n!));
    case 'conc':
      return measured('conc', () => concurrent(cmd.n!, cmd.window!));
    case 'payload':
      return measured('payload', () => payload(cmd.n!, cmd.size!));
    case 'bulk':
      return measured(`bulk-${cmd.via ?? 'default'}`, () => bulk(cmd.size!, cmd.chunk!, cmd.via));
    case 'many':
      return many(cmd.n!);
    case 'streams':
      return streams(cmd.n!);
    case 'slow':
      return slow(cmd.size!, cmd.seconds!);
    case 'stop':
      await conn?.close();
      conn = undefined;
      return {};
  }
  throw new Error(`unknown op ${cmd.op}`);
}

// One command at a time, in order.
const input = createInterface({ input: process.stdin });
let queue = Promise.resolve();
input.on('line', (line) => {
  queue = queue.then(async () => {
    let out: object;
    try {
      out = await run(JSON.parse(line) as Command);
    } catch (err) {
      out = { error: (err as Error).stack ?? String(err) };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  });
});
input.on('close', () => {
  // The orchestrator is gone (or done): stop every plugin still running, even while a
  // command is stuck, then exit. A plugin that does not stop in time goes with us (plugwire
  // plugins and the plain ones exit when their stdin, our pipe, closes).
  setTimeout(() => process.exit(1), 5_000).unref();
  void Promise.allSettled([...live].map((c) => c.close())).then(() => process.exit(0));
});
