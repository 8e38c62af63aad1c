// The packages as a user gets them: `npm pack` each one, install the tarballs into a scratch
// project, import them from plain ESM and type-check a TypeScript file against their .d.ts;
// and the manager's `plugwire` command, run from the tarball, calls a plugin written
// against the installed tarballs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkLeaks } from './helpers.js';

checkLeaks();
const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
// The manager (with the sandbox it starts plugins through) and the control plane too: control
// ships the `plugwire` command (the CLI's code is the manager's).
const packages = ['mux', 'rpc', 'core', 'sdk', 'sandbox', 'manager', 'control'];
let scratch: string;

// Its own deadline: npm install of seven tarballs and their dependencies can take longer
// than a test's (scripts/test.mjs) under load.
before(
  async () => {
    scratch = mkdtempSync(join(tmpdir(), 'pw-pack-'));
    const tarballs = join(scratch, 'tarballs');
    mkdirSync(tarballs);
    for (const p of packages) {
      await run('npm', ['pack', '--silent', '--pack-destination', tarballs], {
        cwd: join(root, 'packages', p),
      });
    }
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    const files = readdirSync(tarballs).map((f) => join(tarballs, f));
    // what a TypeScript user of Node 20 has next to them
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--loglevel=error', ...files, '@types/node@^20'],
      {
        cwd: scratch,
        timeout: 180_000,
      },
    );
  },
  { timeout: 300_000 },
);

after(() => rmSync(scratch, { recursive: true, force: true }));

test('npm pack gives tarballs with dist, types and a README, and no tests', async () => {
  const tarballs = readdirSync(join(scratch, 'tarballs')).sort();
  assert.deepEqual(tarballs, [
    'plugwire-control-0.1.0.tgz',
    'plugwire-core-0.1.0.tgz',
    'plugwire-manager-0.1.0.tgz',
    'plugwire-mux-0.1.0.tgz',
    'plugwire-rpc-0.1.0.tgz',
    'plugwire-sandbox-0.1.0.tgz',
    'plugwire-sdk-0.1.0.tgz',
  ]);
  for (const p of packages) {
    const dir = join(scratch, 'node_modules', '@plugwire', p);
    const entries = readdirSync(dir).sort();
    const bin = p === 'control' ? ['bin'] : []; // the `plugwire` command's stub
    assert.deepEqual(entries, ['README.md', ...bin, 'dist', 'package.json', 'src'], p);
    assert.ok(readdirSync(join(dir, 'dist')).includes('index.d.ts'), `${p} has types`);
    assert.ok(!readdirSync(join(dir, 'dist')).some((f) => f.endsWith('.tsbuildinfo')), p);
  }
});

test('the installed packages import from plain ESM and work together', async () => {
  writeFileSync(
    join(scratch, 'smoke.mjs'),
    `import { connectInProcess, definePlugin } from '@plugwire/sdk';
import { PluginClient } from '@plugwire/core';
import { duplexPair } from '@plugwire/mux';
import { RpcPeer } from '@plugwire/rpc';
const g = definePlugin({ name: 'g', methods: ['hi'] });
const conn = connectInProcess({ server: { plugins: { g: g.implement({ hi: (n) => 'hi ' + n }) } } });
const client = await conn.dispense(g);
console.log(await client.hi('pack'), typeof PluginClient, typeof duplexPair, typeof RpcPeer);
await conn.close();
`,
  );
  const { stdout } = await run(process.execPath, ['smoke.mjs'], { cwd: scratch });
  assert.equal(stdout.trim(), 'hi pack function function function');
});

test('the installed control package runs the plugwire command', async () => {
  const bin = join(scratch, 'node_modules', '.bin', 'plugwire');
  const { stdout } = await run(bin, ['--version'], { cwd: scratch });
  assert.equal(stdout.trim(), '0.1.0');
  const list = await run(bin, ['list', '--json', '--cache-dir', join(scratch, 'cache')], {
    cwd: scratch,
  });
  assert.deepEqual(JSON.parse(list.stdout), { plugins: [], errors: [] });
});

test('their types resolve for a TypeScript user (strict, NodeNext)', async () => {
  writeFileSync(
    join(scratch, 'typed.mts'),
    `import { definePlugin, type Remote, PluginClient } from '@plugwire/sdk';
import { PluginExitedError, type ExitStatus } from '@plugwire/core';
interface KV { get(key: string): Promise<Uint8Array | null> }
const kv = definePlugin<KV>({ name: 'kv', methods: ['get'] });
declare const store: Remote<KV>;
const v: Uint8Array | null = await store.get('k', { timeout: 5 });
// @ts-expect-error a number is not a key
await store.get(1);
const c = new PluginClient({ command: 'x', plugins: { kv } });
const r: Promise<Remote<KV>> = c.dispense(kv);
const s: ExitStatus | undefined = c.exitStatus;
export { v, r, s, PluginExitedError };
`,
  );
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  writeFileSync(
    join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        noEmit: true,
        types: ['node'],
      },
      files: ['typed.mts'],
    }),
  );
  const result = await run(tsc, ['-p', scratch]).then(
    () => '',
    (e: { stdout?: string }) => e.stdout ?? String(e),
  );
  assert.equal(result, '');
});

test('the plugwire command runs from the tarball and calls a plugin', async () => {
  const bin = join(scratch, 'node_modules', '.bin', 'plugwire');
  const { stdout: version } = await run(bin, ['--version'], { cwd: scratch });
  assert.equal(version.trim(), '0.1.0');
  // a plugin folder whose plugin imports the installed @plugwire/sdk, as a user's would
  const plugin = join(scratch, 'plugins', 'greeter');
  mkdirSync(plugin, { recursive: true });
  writeFileSync(
    join(plugin, 'plugin.json'),
    JSON.stringify({ name: 'greeter', version: '1.0.0', entry: 'index.mjs', plugins: ['g'] }),
  );
  writeFileSync(
    join(plugin, 'index.mjs'),
    `import { definePlugin, serve } from '@plugwire/sdk';
const g = definePlugin({ name: 'g', methods: ['hi'] });
await serve({ plugins: { g: g.implement({ hi: (n) => 'hi ' + n }) } });
`,
  );
  const dir = join(scratch, 'plugins');
  const cache = join(scratch, 'cache');
  const { stdout } = await run(
    bin,
    ['call', 'greeter', 'hi', '["tarball"]', '--dir', dir, '--cache-dir', cache],
    { cwd: scratch, timeout: 30_000 },
  );
  assert.equal(JSON.parse(stdout), 'hi tarball');
});
