// What the bench's processes share: the workload's sizes, the bulk pieces, and the /proc
// readings (RSS, CPU time) every driver reports. No plugwire import here: the raw floor and
// json-rpc-2.0 plugins load this file too, and must not pay for plugwire's modules.

import { readFileSync } from 'node:fs';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The workload of docs/design.md ("What the workload of a benchmark means"). */
export interface Workload {
  /** Cold starts per round: spawn → handshake → connect → first add(1,2). */
  startups: number;
  serialCalls: number;
  concCalls: number;
  window: number;
  payloadEchoes: number;
  payloadSize: number;
  bulkSize: number;
  bulkChunk: number;
  /**
   * Bulk transfers per path and round, the paths taking turns: one transfer swings with
   * where the scheduler puts the two processes; the round's figure is their total.
   */
  bulkTransfers: number;
  /**
   * Startup, 64-in-flight and echo are cut into this many slices per round, the contenders
   * taking turns slice by slice, so that a busy second of the machine costs them alike.
   */
  slices: number;
}

export const FULL: Workload = {
  startups: 20,
  serialCalls: 20_000,
  concCalls: 50_000,
  window: 64,
  payloadEchoes: 100,
  payloadSize: MiB,
  bulkSize: 256 * MiB,
  bulkChunk: 64 * KiB,
  bulkTransfers: 3,
  slices: 4,
};

export const QUICK: Workload = {
  startups: 4,
  serialCalls: 300,
  concCalls: 1_000,
  window: 64,
  payloadEchoes: 4,
  payloadSize: MiB,
  bulkSize: 4 * MiB,
  bulkChunk: 64 * KiB,
  bulkTransfers: 3,
  slices: 2,
};

/** 1 MiB of random bytes, the block bulk transfers repeat. */
export function randomBlock(): Buffer {
  const b = Buffer.allocUnsafe(MiB);
  let x = 0x9e3779b9;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x | 0, i);
  }
  return b;
}

/** The `i`-th piece of a bulk transfer: a view of `block`, or a fresh copy. */
export function bulkPiece(
  block: Buffer,
  sent: number,
  chunk: number,
  size: number,
  fresh: boolean,
) {
  const off = sent % block.length;
  const n = Math.min(chunk, block.length - off, size - sent);
  const view = block.subarray(off, off + n);
  return fresh ? Buffer.from(view) : view;
}

/** Writes `size` bytes of `piece(sent)` to a writable, honouring backpressure, then ends it. */
export function pump(
  w: NodeJS.WritableStream,
  size: number,
  piece: (sent: number) => Buffer,
): void {
  let sent = 0;
  const go = (): void => {
    while (sent < size) {
      const p = piece(sent);
      sent += p.length;
      if (!w.write(p)) {
        w.once('drain', go);
        return;
      }
    }
    w.end();
  };
  go();
}

/** VmRSS of a process in MiB (NaN once it is gone). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system, all threads) a process has used, in ms. */
export function cpuMs(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // clock ticks, USER_HZ = 100
  } catch {
    return Number.NaN;
  }
}

export function median(values: readonly number[]): number {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
