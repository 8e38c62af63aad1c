// The manager and @plugwire/sandbox (issue #15): plugin.json's `sandbox` section is applied,
// and every managed plugin sees only the default environment plus what it declares.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ManifestError, parseManifest } from '@plugwire/manager';
import { detectCgroups } from '@plugwire/sandbox';
import { definePlugin } from '@plugwire/sdk';
import { manager, tempDir, writeManifest } from './fixtures/manager/lib/helpers.js';
import { checkLeaks, eventually, fixture } from './helpers.js';

const { socketDir } = checkLeaks();

interface Escape {
  ping(): string;
  env(name: string): string | null;
  alloc(mib: number): number;
}
const escapeApi = definePlugin<Escape>({ name: 'escape', methods: ['ping', 'env', 'alloc'] });

function escapeFolder(sandbox?: Record<string, unknown>): string {
  const dir = join(tempDir(), 'escape');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'index.mjs'),
    `import ${JSON.stringify(pathToFileURL(fixture('sandbox-plugin')).href)};\n`,
  );
  writeManifest(dir, {
    name: 'escape',
    version: '1.0.0',
    entry: 'index.mjs',
    plugins: ['escape'],
    ...(sandbox ? { sandbox } : {}),
  });
  return dir;
}

function hostSecret(t: { after: (fn: () => unknown) => void }): void {
  process.env.PW_HOST_SECRET = 'hunter2';
  process.env.PW_DECLARED = 'wanted';
  t.after(() => {
    delete process.env.PW_HOST_SECRET;
    delete process.env.PW_DECLARED;
  });
}

test('a managed plugin does not see host secrets, only the default set and what it declares', async (t) => {
  hostSecret(t);
  const m = manager(socketDir, { env: { FROM_CONFIG: 'yes' } });
  await m.load({ path: escapeFolder({ env: ['PW_DECLARED'] }) });
  const e = await m.dispense('escape', escapeApi);
  assert.equal(await e.env('PW_HOST_SECRET'), null);
  assert.equal(await e.env('PW_DECLARED'), 'wanted');
  assert.equal(await e.env('FROM_CONFIG'), 'yes');
  assert.equal(await e.env('PATH'), process.env.PATH);
  await m.close();
});

const memorySkip =
  process.getuid?.() !== 0
    ? 'needs root to create cgroups'
    : !detectCgroups(['memory']).parents.memory && 'no memory cgroup this process may create';

test('a managed plugin over its manifest memory cap crashes with "memory limit" and the manager stays up', {
  skip: memorySkip,
}, async (t) => {
  const m = manager(socketDir, { supervisor: { maxRestarts: 0 } });
  t.after(() => m.close());
  await m.load({ path: escapeFolder({ memory: '96M' }) });
  const e = await m.dispense('escape', escapeApi);
  const x = await m.inspect('escape');
  assert.equal(x.sandbox?.memory?.bytes, 96 * 1024 * 1024);
  await assert.rejects(e.alloc(400));
  await eventually(() => assert.match(m.get('escape').lastError?.message ?? '', /memory limit/));
  assert.ok(m.list().length === 1);
});

test("plugin.json's sandbox section is validated field by field", () => {
  const text = (sandbox: unknown) =>
    JSON.stringify({ name: 'p', version: '1.0.0', entry: 'i.mjs', plugins: ['p'], sandbox });
  assert.throws(
    () => parseManifest(text({ memory: 'lots' }), 'plugin.json'),
    (e: unknown) => e instanceof ManifestError && /sandbox\.memory/.test(e.message),
  );
  assert.throws(() => parseManifest(text({ network: 'some' }), 'plugin.json'), /sandbox\.network/);
  assert.throws(() => parseManifest(text({ user: 0 }), 'plugin.json'), /sandbox\.user/);
  assert.equal(parseManifest(text({ memory: '1G' }), 'plugin.json').sandbox?.memory, 2 ** 30);
});
