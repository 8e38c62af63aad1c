// The host config file: JSON and TOML, sources in short and long form, errors naming fields.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, parseSourceString, readConfig } from '@plugwire/manager';
import { checkLeaks } from '../../../test/support/leaks.js';

checkLeaks();

const dir = mkdtempSync(join(tmpdir(), 'pw-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const json = {
  pluginDirs: ['plugins'],
  cacheDir: '.cache',
  plugins: {
    kv: { source: 'git+https://example.com/kv.git#v2', version: '^2', config: { path: 'data' } },
    words: { source: { bundle: 'words.plugwire.tgz', sha256: 'a'.repeat(64) }, enabled: false },
  },
  supervisor: { initialDelay: 50, maxRestarts: 3 },
  whileRestarting: 'wait',
};

const toml = `
pluginDirs = ["plugins"]
cacheDir = ".cache"
whileRestarting = "wait"

[supervisor]
initialDelay = 50
maxRestarts = 3

[plugins.kv]
source = "git+https://example.com/kv.git#v2"
version = "^2"
config = { path = "data" }

[plugins.words]
source = { bundle = "words.plugwire.tgz", sha256 = "${'a'.repeat(64)}" }
enabled = false
`;

test('a TOML config file reads the same as its JSON form', () => {
  writeFileSync(join(dir, 'plugwire.config.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'plugwire.config.toml'), toml);
  const a = readConfig(join(dir, 'plugwire.config.json'));
  const b = readConfig(join(dir, 'plugwire.config.toml'));
  assert.deepEqual({ ...a, file: '' }, { ...b, file: '' });
  assert.deepEqual(a.pluginDirs, [join(dir, 'plugins')]);
  assert.equal(a.cacheDir, join(dir, '.cache'));
  assert.deepEqual(a.plugins.kv?.source, { git: 'https://example.com/kv.git', ref: 'v2' });
  assert.deepEqual(a.supervisor, { initialDelay: 50, maxRestarts: 3 });
});

test('a bad version range is reported with the file and the plugin field', () => {
  const file = join(dir, 'bad-range.json');
  writeFileSync(file, JSON.stringify({ plugins: { kv: { version: 'two' } } }));
  assert.throws(
    () => readConfig(file),
    (err: ConfigError) =>
      err instanceof ConfigError && err.file === file && err.field === 'plugins.kv.version',
  );
});

test('a source object with two kinds is rejected', () => {
  const file = join(dir, 'two-kinds.json');
  writeFileSync(file, JSON.stringify({ plugins: { kv: { source: { path: 'a', git: 'b' } } } }));
  assert.throws(
    () => readConfig(file),
    (err: ConfigError) => err.field === 'plugins.kv.source',
  );
});

test('a bundle source without sha256 is rejected', () => {
  const file = join(dir, 'no-sha.json');
  writeFileSync(file, JSON.stringify({ plugins: { kv: { source: { bundle: 'kv.tgz' } } } }));
  assert.throws(
    () => readConfig(file),
    (err: ConfigError) => err.field === 'plugins.kv.source.sha256',
  );
});

test('invalid TOML is reported for the file', () => {
  const file = join(dir, 'broken.toml');
  writeFileSync(file, 'pluginDirs = [');
  assert.throws(() => readConfig(file), /is not valid TOML/);
});

test('source strings: git URLs with refs, npm specs, tarballs and folders', () => {
  assert.deepEqual(parseSourceString('git+file:///tmp/repo#v1.0.0'), {
    git: 'file:///tmp/repo',
    ref: 'v1.0.0',
  });
  assert.deepEqual(parseSourceString('https://example.com/kv.git#main'), {
    git: 'https://example.com/kv.git',
    ref: 'main',
  });
  assert.deepEqual(parseSourceString('npm:kv-plugin@^2'), { package: 'kv-plugin@^2' });
  assert.deepEqual(parseSourceString('./kv-2.0.0.tgz'), { package: './kv-2.0.0.tgz' });
  assert.deepEqual(parseSourceString('plugins/kv'), { path: 'plugins/kv' });
});

test('allowScripts is a per-plugin setting that must be true or false', () => {
  const file = join(dir, 'scripts.json');
  writeFileSync(file, JSON.stringify({ plugins: { kv: { allowScripts: true } } }));
  assert.equal(readConfig(file).plugins.kv?.allowScripts, true);
  writeFileSync(file, JSON.stringify({ plugins: { kv: { allowScripts: 'yes' } } }));
  assert.throws(
    () => readConfig(file),
    (err: ConfigError) => err.field === 'plugins.kv.allowScripts',
  );
});
