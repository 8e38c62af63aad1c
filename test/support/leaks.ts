// The leak check of every test suite (end-to-end and each package's unit tests), and the
// waits it is built on. Imports nothing from plugwire, so that the tests of any package can
// use it: `import { checkLeaks } from '../../../test/support/leaks.js'`.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, type TestContext } from 'node:test';

/** How long eventually() waits by default: the leak check's own wait for close events. */
const EVENTUALLY_MS = 2000;
/** The per-test deadline scripts/test.mjs sets. */
const TEST_TIMEOUT_MS = Number(process.env.PLUGWIRE_TEST_TIMEOUT) || 60_000;
/** Whether node's runner fails a test by name at its deadline (--test-timeout, Node ≥ 24). */
const RUNNER_TIMES_TESTS = Number(process.versions.node.split('.')[0]) >= 24;

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

/**
 * What Node itself leaves in TMPDIR, which tests that run tools point at their socket dir:
 * npm 11 turns on the module compile cache (`module.enableCompileCache()`, Node ≥ 22.1),
 * whose default home is `$TMPDIR/node-compile-cache`.
 */
const NODE_OWN_DIRS = new Set(['node-compile-cache']);

/** tsx's cache dir: tsx opens it when it first compiles a file, which may be during a test. */
const TSX_CACHE = join(tmpdir(), 'tsx-');

function openFds(): string[] {
  const fds: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (!target.startsWith(TSX_CACHE)) fds.push(`${fd}:${target}`);
    } catch {
      // the fd of the readdir itself
    }
  }
  return fds;
}

/** SIGKILL to `pid` and its process group (plugwire starts plugins as group leaders). */
function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // no such group (not a leader), or gone
    }
  }
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
 * Waits until `check` passes, giving the event loop turns to deliver close events; after
 * `ms` fails with the last assertion, prefixed with how long and (given `what`) what was
 * awaited. For conditions with no event to wait on.
 */
export async function eventually(
  check: () => void | Promise<void>,
  ms = EVENTUALLY_MS,
  what?: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      // Awaited: an async check's rejection is a failed poll, not an unhandled rejection.
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        if (!(err instanceof Error)) throw err;
        err.message = `gave up after ${ms} ms${what ? ` waiting for ${what}` : ''}: ${err.message}`;
        throw err;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * `promise`, or a rejection naming `what` was awaited when it has not settled after `ms`:
 * for events that may never come (a state, a line, an exit), so that a regression fails
 * with a message instead of waiting for the suite's timeout.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Installs per-test leak checks and returns a private socket dir for the file's clients
 * (pass it as `unixSocketDir`): after each test no child process, file descriptor or active
 * handle is left that was not there before it, and the socket dir is empty again.
 */
export function checkLeaks(): { socketDir: string } {
  const socketDir = mkdtempSync(join(tmpdir(), 'pw-test-'));
  let fds: string[] = [];
  let before = new Map<string, number>();
  // Children that outlive tests on their own (tsx's esbuild service) are not leaks.
  let children: number[] = [];
  // A test's own cleanups (`t.after(() => client.kill())`) must run before the check, but
  // node runs afterEach hooks first: they are collected here instead, and run (last
  // registered first) at the start of afterEach. So a failed assert still cleans up, and
  // is not reported a second time as a leak.
  const cleanups = new WeakMap<object, Array<() => unknown>>();
  let watchdog: NodeJS.Timeout | undefined;
  beforeEach((c) => {
    const t = c as TestContext; // each-hooks run for tests, never for suites
    if (!RUNNER_TIMES_TESTS) {
      // Node 20 and 22 time whole files only (scripts/test.mjs): say which test is stuck.
      watchdog = setTimeout(() => {
        process.stderr.write(`still running after ${TEST_TIMEOUT_MS} ms: ${t.name}\n`);
      }, TEST_TIMEOUT_MS).unref();
    }
    fds = openFds();
    before = handles();
    children = childPids();
    const mine: Array<() => unknown> = [];
    cleanups.set(t, mine);
    t.after = ((fn: () => unknown) => void mine.push(fn)) as TestContext['after'];
  });
  afterEach(async (c) => {
    clearTimeout(watchdog);
    const errors: unknown[] = [];
    for (const fn of (cleanups.get(c) ?? []).reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    try {
      await eventually(
        () => {
          const left = childPids().filter((p) => !children.includes(p));
          assert.deepEqual(left, [], 'child processes left running');
          assert.deepEqual(
            readdirSync(socketDir).filter((n) => !NODE_OWN_DIRS.has(n)),
            [],
            'socket directories left behind',
          );
          const leakedFds = openFds().filter((f) => !fds.includes(f));
          assert.deepEqual(leakedFds, [], 'file descriptors left open');
          assert.deepEqual(grown(before), [], 'handles left active');
        },
        EVENTUALLY_MS,
        'the test to leave nothing behind',
      );
    } catch (err) {
      errors.push(err);
    }
    if (errors.length === 0) return;
    // Reported now; but processes a failed or timed-out test left would keep this file's
    // process (and so the whole run) alive for ever: SIGKILL them, with their groups.
    const left = childPids().filter((p) => !children.includes(p));
    for (const pid of left) killGroup(pid);
    await eventually(() =>
      assert.deepEqual(
        childPids().filter((p) => left.includes(p)),
        [],
      ),
    ).catch(() => {});
    throw errors[0];
  });
  after(() => rmSync(socketDir, { recursive: true, force: true }));
  return { socketDir };
}
