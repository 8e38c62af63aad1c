// Loading plugin directories and config files: manifest errors, version ranges, settings.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ManifestError,
  PluginManager,
  PluginNotFoundError,
  VersionMismatchError,
} from '@plugwire/manager';
import { echo } from './fixtures/manager/echo-api.js';
import { echoFolder, manager, tempDir } from './fixtures/manager/lib/helpers.js';
import { checkLeaks } from './helpers.js';

const { socketDir } = checkLeaks();

test('loadAll reports a broken plugin.json by file and field, and loads the other plugins', async () => {
  const dir = tempDir();
  echoFolder(dir, 'good');
  const bad = echoFolder(dir, 'bad', { name: 'bad', version: 'one' });
  const m = manager(socketDir, { dirs: [dir] });
  try {
    const { plugins, errors } = await m.loadAll();
    assert.deepEqual(
      plugins.map((p) => p.name),
      ['echo'],
    );
    assert.equal(errors.length, 1);
    const err = errors[0]!.error as ManifestError;
    assert.ok(err instanceof ManifestError);
    assert.equal(err.file, join(bad, 'plugin.json'));
    assert.equal(err.field, 'version');
    assert.match(err.message, /bad\/plugin\.json: "version" must be a semver version/);
  } finally {
    await m.close();
  }
});

test('a folder without plugin.json in a plugin directory is reported', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'stray'));
  const m = manager(socketDir, { dirs: [dir] });
  try {
    const { errors } = await m.loadAll();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.error.message, /stray\/plugin\.json: not found/);
  } finally {
    await m.close();
  }
});

test('an entry file that does not exist is reported naming the entry field', async () => {
  const dir = echoFolder(tempDir(), 'echo', { entry: 'dist/missing.js' });
  const m = manager(socketDir);
  try {
    await assert.rejects(
      m.load({ path: dir }),
      (err: ManifestError) =>
        err.field === 'entry' && /dist\/missing\.js, which does not exist/.test(err.message),
    );
  } finally {
    await m.close();
  }
});

test('name@range finds a plugin whose version satisfies the range and refuses one that does not', async () => {
  const m = manager(socketDir);
  try {
    await m.load({ path: echoFolder(tempDir(), 'echo', { version: '2.3.0' }) });
    assert.equal(m.get('echo@^2').version, '2.3.0');
    assert.throws(() => m.get('echo@^3'), VersionMismatchError);
    const e = await m.dispense('echo@>=2.1 <3', echo);
    assert.equal(await e.version(), '2.3.0');
    await assert.rejects(
      m.dispense('echo@^1', echo),
      /must satisfy \^1, but the version found is 2\.3\.0/,
    );
  } finally {
    await m.close();
  }
});

test('of several folders with one plugin, loadAll takes the highest version in the configured range', async () => {
  const dir = tempDir();
  echoFolder(dir, 'echo-1.4', { version: '1.4.0' });
  echoFolder(dir, 'echo-1.9', { version: '1.9.2' });
  echoFolder(dir, 'echo-2.0', { version: '2.0.0' });
  const m = manager(socketDir, { dirs: [dir], plugins: { echo: { version: '^1' } } });
  try {
    const { plugins, errors } = await m.loadAll();
    assert.deepEqual(errors, []);
    assert.deepEqual(
      plugins.map((p) => [p.name, p.version]),
      [['echo', '1.9.2']],
    );
  } finally {
    await m.close();
  }
});

test('a configured range no folder satisfies is reported with the versions found', async () => {
  const dir = tempDir();
  echoFolder(dir, 'echo', { version: '1.0.0' });
  const m = manager(socketDir, { dirs: [dir], plugins: { echo: { version: '^2' } } });
  try {
    const { plugins, errors } = await m.loadAll();
    assert.deepEqual(plugins, []);
    assert.ok(errors[0]!.error instanceof VersionMismatchError);
    assert.match(errors[0]!.error.message, /must satisfy \^2, but the version found is 1\.0\.0/);
  } finally {
    await m.close();
  }
});

test('a TOML config file names plugin dirs and a plugin source, and the plugin gets its config', async () => {
  const dir = tempDir();
  echoFolder(join(dir, 'plugins'), 'echo');
  echoFolder(join(dir, 'more'), 'other', { name: 'other' });
  writeFileSync(
    join(dir, 'plugwire.config.toml'),
    `pluginDirs = ["plugins"]
[plugins.echo.config]
greeting = "Moin"
[plugins.other]
source = "./more/other"
config = { greeting = "Servus" }
`,
  );
  const m = PluginManager.fromConfig(join(dir, 'plugwire.config.toml'), {
    cacheDir: tempDir('pw-cache-'),
    unixSocketDir: socketDir,
  });
  try {
    const { plugins, errors } = await m.loadAll();
    assert.deepEqual(errors, []);
    assert.deepEqual(
      plugins.map((p) => [p.name, p.origin.kind]),
      [
        ['echo', 'path'],
        ['other', 'path'],
      ],
    );
    assert.equal(await (await m.dispense('echo', echo)).hello('Ada'), 'Moin, Ada!');
    assert.equal(await (await m.dispense('other', echo)).hello('Bo'), 'Servus, Bo!');
  } finally {
    await m.close();
  }
});

test('a plugin the config names that no directory has is reported', async () => {
  const m = manager(socketDir, { dirs: [tempDir()], plugins: { ghost: { config: {} } } });
  try {
    const { errors } = await m.loadAll();
    assert.ok(errors[0]!.error instanceof PluginNotFoundError);
    assert.match(errors[0]!.error.message, /no plugin "ghost" is loaded/);
  } finally {
    await m.close();
  }
});
