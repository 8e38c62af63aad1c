// plugin.json validation: every error names the file and the field.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  MAX_MANIFEST_BYTES,
  ManifestError,
  parseManifest,
  readManifest,
  validateManifest,
} from '@plugwire/manager';
import { checkLeaks } from '../../../test/support/leaks.js';

checkLeaks();

const FILE = '/plugins/kv/plugin.json';
const valid = {
  name: 'kv',
  version: '2.1.0',
  description: 'A key-value store',
  maintainers: ['Ann Lee <ann@example.com> (https://ann.example.com)', { name: 'Bo' }],
  home: 'https://example.com/kv',
  entry: 'dist/plugin.js',
  protocolVersions: [2, 1],
  plugins: { kv: { methods: ['get', 'put'] } },
  source: { git: 'https://example.com/kv.git', ref: 'v2.1.0' },
  configSchema: { type: 'object', properties: { path: { type: 'string' } } },
};

function errorOf(manifest: unknown): ManifestError {
  try {
    parseManifest(JSON.stringify(manifest), FILE);
  } catch (err) {
    assert.ok(err instanceof ManifestError, String(err));
    return err;
  }
  assert.fail('the manifest was accepted');
}

test('a complete manifest is read with defaults filled and maintainers parsed', () => {
  const m = parseManifest(JSON.stringify(valid), FILE);
  assert.equal(m.name, 'kv');
  assert.deepEqual(m.entry, { kind: 'node', file: 'dist/plugin.js' });
  assert.deepEqual(m.protocolVersions, [1, 2]);
  assert.deepEqual(m.plugins, { kv: { methods: ['get', 'put'] } });
  assert.deepEqual(m.maintainers, [
    { name: 'Ann Lee', email: 'ann@example.com', url: 'https://ann.example.com' },
    { name: 'Bo' },
  ]);
});

test('a command entry with args is an executable in any language', () => {
  const m = parseManifest(
    JSON.stringify({ ...valid, entry: { command: 'bin/kv', args: ['--serve'] } }),
    FILE,
  );
  assert.deepEqual(m.entry, { kind: 'command', command: 'bin/kv', args: ['--serve'] });
});

test('a missing name is reported with the file and the field', () => {
  const { name: _, ...rest } = valid;
  const err = errorOf(rest);
  assert.equal(err.file, FILE);
  assert.equal(err.field, 'name');
  assert.equal(err.code, 'PLUGWIRE_MANIFEST');
  assert.match(err.message, /^\/plugins\/kv\/plugin\.json: "name" is required/);
});

test('a version that is not semver is rejected naming the version field', () => {
  const err = errorOf({ ...valid, version: '2.x' });
  assert.equal(err.field, 'version');
  assert.match(err.message, /semver.*"2\.x"/);
});

test('an entry file that is not JS or TS suggests a command entry', () => {
  const err = errorOf({ ...valid, entry: 'bin/kv' });
  assert.equal(err.field, 'entry');
  assert.match(err.message, /\{ "command": "bin\/kv" \}/);
});

test('an entry outside the plugin directory is rejected', () => {
  assert.equal(errorOf({ ...valid, entry: '../other/plugin.js' }).field, 'entry');
});

test('a command entry with non-string args names entry.args', () => {
  assert.equal(errorOf({ ...valid, entry: { command: 'kv', args: [1] } }).field, 'entry.args');
});

test('an empty plugins list is rejected', () => {
  assert.equal(errorOf({ ...valid, plugins: [] }).field, 'plugins');
});

test('a bad protocol version names its index', () => {
  assert.equal(errorOf({ ...valid, protocolVersions: [1, 0] }).field, 'protocolVersions[1]');
});

test('a misspelt field is rejected with the list of known fields', () => {
  const err = errorOf({ ...valid, entrypoint: 'x.js' });
  assert.equal(err.field, 'entrypoint');
  assert.match(err.message, /known: name, version/);
});

test('extension fields under x- are allowed', () => {
  assert.equal(parseManifest(JSON.stringify({ ...valid, 'x-team': 'storage' }), FILE).name, 'kv');
});

test('an invalid config schema names configSchema', () => {
  assert.equal(errorOf({ ...valid, configSchema: { type: 'nonsense' } }).field, 'configSchema');
});

test('text that is not JSON is reported for the file, without a field', () => {
  assert.throws(
    () => parseManifest('{ "name": ', FILE),
    (err: ManifestError) => err.field === undefined && /is not valid JSON/.test(err.message),
  );
});

test('an interface named like an Object.prototype member is rejected', () => {
  for (const plugins of [['__proto__'], { constructor: {} }, ['then']]) {
    assert.throws(
      () => validateManifest({ ...valid, plugins }, FILE),
      (err: ManifestError) => {
        assert.ok(err instanceof ManifestError);
        assert.match(err.field ?? '', /^plugins/);
        assert.match(err.message, /is not an interface name/);
        return true;
      },
    );
  }
});

test('a plugin.json larger than MAX_MANIFEST_BYTES is refused without being read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-manifest-'));
  try {
    writeFileSync(join(dir, 'plugin.json'), Buffer.alloc(MAX_MANIFEST_BYTES + 1, 32));
    assert.throws(
      () => readManifest(dir),
      (err: ManifestError) => {
        assert.ok(err instanceof ManifestError);
        assert.match(err.message, /more than a manifest may be/);
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
