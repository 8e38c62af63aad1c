// Shared helpers of the end-to-end tests: fixture paths, and a leak check that every test
// file installs, asserting that each test leaves no process, socket dir, fd or handle behind.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PluginClient, type PluginClientOptions } from '@plugwire/core';

const here = fileURLToPath(new URL('.', import.meta.url));

/** The built JS of a fixture plugin (test/fixtures/<name>.ts). */
export function fixture(name: string): string {
  return join(here, 'fixtures', 'dist', `${name}.js`);
}

/** Pids of this process's children. */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function openFds(): string[] {
  const fds: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      fds.push(`${fd}:${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the fd of the readdir itself
    }
  }
  return fds;
}

/** Active handles by type (sockets, pipes, servers, processes, timers). */
function handles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) {
    // fs requests and immediates come and go with the runner's own work
    if (r === 'FSReqCallback' || r === 'Immediate' || r === 'TTYWrap') continue;
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return counts;
}

/** Handle types of which there are more now than in `before`. */
function grown(before: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [type, n] of handles()) {
    const was = before.get(type) ?? 0;
    if (n > was) out.push(`${type} ×${n - was}`);
  }
  return out;
}

/**
 * Waits until `check` passes, giving the event loop turns to deliver close events; fails
 * with the last assertion after `ms`. For conditions with no event to wait on.
 */
export async function eventually(check: () => void, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * Installs per-test leak checks and returns a private socket dir for the file's clients
 * (pass it as `unixSocketDir`): after each test it must be empty again.
 */
export function checkLeaks(): { socketDir: string } {
  const socketDir = mkdtempSync(join(tmpdir(), 'pw-test-'));
  let fds: string[] = [];
  let before = new Map<string, number>();
  // Children that outlive tests on their own (tsx's esbuild service) are not leaks.
  let children: number[] = [];
  beforeEach(() => {
    fds = openFds();
    before = handles();
    children = childPids();
  });
  afterEach(async () => {
    await eventually(() => {
      const left = childPids().filter((p) => !children.includes(p));
      assert.deepEqual(left, [], 'child processes left running');
      assert.deepEqual(readdirSync(socketDir), [], 'socket directories left behind');
      const leakedFds = openFds().filter((f) => !fds.includes(f));
      assert.deepEqual(leakedFds, [], 'file descriptors left open');
      assert.deepEqual(grown(before), [], 'handles left active');
    });
  });
  after(() => rmSync(socketDir, { recursive: true, force: true }));
  return { socketDir };
}

/** A client of the calc fixture plugin (raw RPC peer), with its socket in `socketDir`. */
export function calcClient(
  socketDir: string,
  extra: Partial<PluginClientOptions> = {},
): PluginClient {
  return new PluginClient({
    command: process.execPath,
    args: [fixture('calc-plugin')],
    plugins: { calc: {} },
    unixSocketDir: socketDir,
    ...extra,
  });
}
