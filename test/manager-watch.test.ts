// Watch mode: a change in a plugin directory loads, unloads or upgrades that plugin.
import assert from 'node:assert/strict';
import { rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ManagerOptions, PluginManager, WatchEvent } from '@plugwire/manager';
import { echo } from './fixtures/manager/echo-api.js';
import { greeter } from './fixtures/manager/greeter-api.js';
import {
  copySource,
  echoFolder,
  manager,
  nextEvent,
  tempDir,
  writeManifest,
} from './fixtures/manager/lib/helpers.js';
import { checkLeaks, isAlive } from './helpers.js';

const { socketDir } = checkLeaks();

// libuv opens one inotify descriptor per process at the first watch and keeps it for the life
// of the process: open it now, before the leak checks take their first snapshot.
watch(tmpdir()).close();

/** The next watch event with this action (rejects after EVENT_DEADLINE_MS). */
function next(m: PluginManager, action: WatchEvent['action']): Promise<WatchEvent> {
  return nextEvent<WatchEvent>(m, 'watch', (w) => w.action === action, `watch event ${action}`);
}

async function watching(
  dir: string,
  autoStart = true,
  options: ManagerOptions = {},
): Promise<PluginManager> {
  const m = manager(socketDir, { dirs: [dir], autoStart, watchDebounce: 100, ...options });
  await m.loadAll();
  await m.watch();
  return m;
}

test('a plugin folder added to a watched directory is loaded and started', async () => {
  const dir = tempDir();
  const m = await watching(dir);
  try {
    const loaded = next(m, 'loaded');
    echoFolder(dir, 'echo', { version: '1.0.0' });
    assert.equal((await loaded).plugin, 'echo');
    assert.equal(m.get('echo').state, 'running');
    assert.equal(await (await m.dispense('echo', echo)).add(2, 2), 4);
  } finally {
    await m.close();
  }
});

test('a new version written into a plugin folder upgrades the running plugin in place', async () => {
  const dir = tempDir();
  const folder = echoFolder(dir, 'echo', { version: '1.0.0' });
  const m = await watching(dir);
  try {
    const e = await m.dispense('echo', echo);
    const oldPid = await e.pid();
    const upgraded = next(m, 'upgraded');
    writeManifest(folder, {
      name: 'echo',
      version: '1.1.0',
      entry: 'index.mjs',
      plugins: ['echo'],
    });
    await upgraded;
    assert.equal(await e.version(), '1.1.0');
    assert.equal(isAlive(oldPid), false);
  } finally {
    await m.close();
  }
});

test('a plugin folder removed from a watched directory is unloaded', async () => {
  const dir = tempDir();
  const folder = echoFolder(dir, 'echo');
  const m = await watching(dir);
  try {
    const pid = m.get('echo').pid!;
    const unloaded = next(m, 'unloaded');
    rmSync(folder, { recursive: true });
    assert.equal((await unloaded).plugin, 'echo');
    assert.deepEqual(m.list(), []);
    assert.equal(isAlive(pid), false);
  } finally {
    await m.close();
  }
});

test('an edited TypeScript source is rebuilt and swapped in without a restart of the host', async () => {
  const dir = tempDir();
  const folder = copySource('greeter', dir);
  const m = await watching(dir);
  try {
    const g = await m.dispense('greeter', greeter);
    assert.equal(await g.hello('Ada'), 'Hello, Ada!');
    const upgraded = next(m, 'upgraded');
    writeFileSync(join(folder, 'src', 'word.ts'), "export const word: string = 'Salut';\n");
    await upgraded;
    assert.equal(await g.hello('Ada'), 'Salut, Ada!');
    assert.equal(m.get('greeter').origin.build?.rebuilt, true);
  } finally {
    await m.close();
  }
});

test('a broken edit is reported and the running version keeps serving', async () => {
  const dir = tempDir();
  const folder = echoFolder(dir, 'echo', { version: '1.0.0' });
  const m = await watching(dir);
  try {
    const e = await m.dispense('echo', echo);
    const failed = next(m, 'error');
    writeFileSync(join(folder, 'plugin.json'), '{ "name": "echo", "version": ');
    const w = await failed;
    assert.match(w.error?.message ?? '', /echo\/plugin\.json: is not valid JSON/);
    assert.equal(await e.version(), '1.0.0');
    assert.equal(m.get('echo').state, 'running');
  } finally {
    await m.close();
  }
});

test('a failed plugin whose folder changes is started again on the new files', async () => {
  const dir = tempDir();
  const marker = join(tempDir(), 'crash-on-start');
  writeFileSync(marker, '');
  const folder = echoFolder(dir, 'echo', { version: '1.0.0' });
  const m = await watching(dir, true, {
    plugins: { echo: { config: { crashOnStartIf: marker } } },
  });
  try {
    assert.equal(m.get('echo').state, 'failed');
    rmSync(marker); // the fix, then the edit that says so
    const upgraded = next(m, 'upgraded');
    writeManifest(folder, {
      name: 'echo',
      version: '1.0.1',
      entry: 'index.mjs',
      plugins: ['echo'],
    });
    await upgraded;
    assert.deepEqual([m.get('echo').state, m.get('echo').version], ['running', '1.0.1']);
    assert.equal(await (await m.dispense('echo', echo)).version(), '1.0.1');
  } finally {
    await m.close();
  }
});
