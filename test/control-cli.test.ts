// `plugwire run` in one process and the other plugwire commands in another, as a user runs
// them in two terminals: the commands find the running host and act on its plugins instead
// of starting a second copy of each.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { controlSocketPath } from '@plugwire/manager';
import { cleanups, webFolder } from './control-helpers.js';
import { echoFolder, tempDir } from './fixtures/manager/lib/helpers.js';
import { checkLeaks, isAlive } from './helpers.js';

const later = cleanups();
const { socketDir } = checkLeaks();
const root = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(root, 'packages', 'control', 'bin', 'plugwire.js');
const cacheDir = tempDir('pw-ctl-cache-');
const env = {
  ...process.env,
  TMPDIR: socketDir,
  NO_COLOR: '1',
  FORCE_COLOR: undefined,
  PLUGWIRE_HOST: undefined,
};

function plugwire(
  args: string[],
  extraEnv: Record<string, string | undefined> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args, '--cache-dir', cacheDir], {
    cwd: root,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

/** Direct children of a process (the plugin processes of a host). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

/** `plugwire run <dir>` until its plugins run and its control socket is up. */
async function runHost(dir: string, expect: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'run', dir, '--no-live', '--cache-dir', cacheDir], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  later(async () => {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await new Promise((r) => child.once('close', r));
    }
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`plugwire run did not come up:\n${out}`)),
      30_000,
    );
    const check = () => {
      const running = out.match(/→ running/g)?.length ?? 0;
      if (/control API on /.test(out) && running >= expect) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', (d) => {
      out += d;
      check();
    });
    child.stderr!.on('data', (d) => {
      out += d;
    });
    child.once('close', () => reject(new Error(`plugwire run exited:\n${out}`)));
  });
  return child;
}

function plugins(): string {
  const dir = join(tempDir(), 'plugins');
  echoFolder(dir, 'echo');
  webFolder(dir, 'web');
  return dir;
}

test('list and call in another process talk to the running host: one process per plugin', async () => {
  const dir = plugins();
  const host = await runHost(dir, 2);
  const before = childrenOf(host.pid!).sort();
  assert.equal(before.length, 2);

  const listed = await plugwire(['list', '--dir', dir]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stderr, new RegExp(`talking to the host at ${controlSocketPath(dir)}`));
  assert.match(listed.stdout, /^echo\s+1\.0\.0\s+running\s+\d+/m);
  assert.match(listed.stdout, /^web\s+1\.0\.0\s+running\s+\d+/m);

  const called = await plugwire(['call', 'web', 'pid', '--dir', dir]);
  assert.equal(called.code, 0, called.stderr);
  // The answer comes from the host's process of the plugin, not a second one.
  assert.ok(before.includes(Number(called.stdout.trim())), called.stdout);
  assert.deepEqual(childrenOf(host.pid!).sort(), before);
});

test('inspect of a running host shows its process and recent state changes', async () => {
  const dir = plugins();
  await runHost(dir, 2);
  const r = await plugwire(['inspect', 'echo', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ {2}state\s+running, pid \d+/m);
  assert.match(r.stdout, /^ {4}echo: hello, add, sleep/m);
  assert.match(r.stdout, /starting → running/);
});

test('restart, stop and start act on the running host and print the new state', async () => {
  const dir = plugins();
  const host = await runHost(dir, 2);
  const oldPid = Number((await plugwire(['call', 'echo', 'pid', '--dir', dir])).stdout);
  const restarted = await plugwire(['restart', 'echo', '--dir', dir]);
  assert.equal(restarted.code, 0, restarted.stderr);
  const m = /^echo running \(pid (\d+)\)$/m.exec(restarted.stdout);
  assert.ok(m, restarted.stdout);
  assert.notEqual(Number(m[1]), oldPid);
  assert.equal(isAlive(oldPid), false);
  const stopped = await plugwire(['stop', 'echo', '--dir', dir]);
  assert.match(stopped.stdout, /^echo stopped$/m);
  assert.equal(childrenOf(host.pid!).length, 1);
  const started = await plugwire(['start', 'echo', '--dir', dir]);
  assert.match(started.stdout, /^echo running \(pid \d+\)$/m);
});

test('logs prints the last lines a plugin of the running host wrote', async () => {
  const dir = plugins();
  await runHost(dir, 2);
  for (const n of [1, 2, 3]) await plugwire(['call', 'web', 'log', `"line ${n}"`, '--dir', dir]);
  const r = await plugwire(['logs', 'web', '-n', '2', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stdout);
  assert.match(lines[0]!, /info\s+line 2$/);
  assert.match(lines[1]!, /info\s+line 3$/);
});

test('logs -f keeps printing the lines a plugin of the running host writes until Ctrl-C', async () => {
  const dir = plugins();
  await runHost(dir, 2);
  const child = spawn(process.execPath, [CLI, 'logs', 'web', '-f', '-n', '1', '--dir', dir], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  later(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  const seen = new Promise<void>((resolve) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('followed line')) resolve();
    });
  });
  // Once it says it follows, every new line must reach it.
  let err = '';
  await new Promise<void>((resolve) => {
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('following the log of web')) resolve();
    });
  });
  await plugwire(['call', 'web', 'log', '"followed line"', '--dir', dir]);
  await seen;
  child.kill('SIGINT');
  const code = await new Promise((r) => child.once('close', r));
  assert.equal(code, 0);
});

test('without a running host, list says so and loads the plugins in its own process', async () => {
  const dir = plugins();
  const r = await plugwire(['list', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /no running host \(no host socket at .*\); loading the plugins in this process/,
  );
  assert.match(r.stdout, /^echo\s+1\.0\.0\s+stopped/m);
});

test('logs, stop, start and restart without a running host fail with PLUGWIRE_NO_HOST', async () => {
  const dir = plugins();
  for (const cmd of ['logs', 'stop', 'start', 'restart']) {
    const r = await plugwire([cmd, 'echo', '--dir', dir]);
    assert.equal(r.code, 1, cmd);
    assert.match(r.stderr, /no running host found/, cmd);
  }
});

test('a host named by --host or PLUGWIRE_HOST that does not answer is an error, not a fallback', async () => {
  const dir = plugins();
  const nowhere = join(tempDir(), 'nothing.sock');
  const flag = await plugwire(['list', '--dir', dir, '--host', nowhere]);
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /cannot reach the host at .*nothing\.sock \(--host\)/);
  const byEnv = await plugwire(['list', '--dir', dir], { PLUGWIRE_HOST: nowhere });
  assert.equal(byEnv.code, 1);
  assert.match(byEnv.stderr, /cannot reach the host at .*\(PLUGWIRE_HOST\)/);
});

test('PLUGWIRE_HOST reaches a running host from a command that names no plugin folder', async () => {
  const dir = plugins();
  await runHost(dir, 2);
  const r = await plugwire(['call', 'echo', 'add', '[2,3]'], {
    PLUGWIRE_HOST: controlSocketPath(dir),
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '5');
  assert.match(r.stderr, /found by PLUGWIRE_HOST/);
});
