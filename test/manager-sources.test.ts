// Every kind of plugin source, end to end: a built JS entry, an executable, a TypeScript
// folder compiled into the cache, an npm package installed with its dependencies, a git
// repository at a ref, and a bundle whose sha256 is checked. Only local sources: a git repo
// made here and cloned by file://, tarballs made by `npm pack`.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { IntegrityError, packBundle } from '@plugwire/manager';
import { echo } from './fixtures/manager/echo-api.js';
import { greeter } from './fixtures/manager/greeter-api.js';
import {
  copySource,
  fixtures,
  manager,
  sh,
  tempDir,
  writeManifest,
} from './fixtures/manager/lib/helpers.js';
import { checkLeaks } from './helpers.js';

const { socketDir } = checkLeaks();

// npm must not reach a registry, nor write outside the test's folders.
process.env.npm_config_offline = 'true';
process.env.npm_config_cache = tempDir('pw-npm-cache-');
process.env.npm_config_update_notifier = 'false';

test('a folder with a built JS entry runs that file', async () => {
  const m = manager(socketDir);
  try {
    const info = await m.load({ path: join(fixtures, 'plugins', 'echo') });
    assert.deepEqual([info.name, info.version, info.origin.kind], ['echo', '1.0.0', 'path']);
    const e = await m.dispense('echo', echo);
    assert.equal(await e.add(2, 3), 5);
  } finally {
    await m.close();
  }
});

test('a command entry runs an executable with the manifest args', async () => {
  const m = manager(socketDir);
  try {
    await m.load({ path: join(fixtures, 'plugins', 'echo-sh') });
    const e = await m.dispense('echo-sh', echo);
    assert.equal(await e.version(), '0.3.0');
  } finally {
    await m.close();
  }
});

test('a TypeScript source folder is compiled into the cache on load', async () => {
  const dir = copySource('greeter', tempDir());
  const m = manager(socketDir);
  try {
    const info = await m.load({ path: dir });
    assert.equal(info.origin.build?.rebuilt, true);
    assert.ok(info.origin.build.outFile.startsWith(m.cacheDir), info.origin.build.outFile);
    const g = await m.dispense('greeter', greeter);
    assert.equal(await g.hello('Ada'), 'Hello, Ada!');
  } finally {
    await m.close();
  }
});

test('a TypeScript folder loads from the cache until a source changes, then is rebuilt', async () => {
  const dir = copySource('greeter', tempDir());
  const cacheDir = tempDir('pw-cache-');
  const load = async () => {
    const m = manager(socketDir, { cacheDir });
    try {
      const info = await m.load({ path: dir });
      const g = await m.dispense('greeter', greeter);
      return { build: info.origin.build!, hello: await g.hello('Bo') };
    } finally {
      await m.close();
    }
  };
  const first = await load();
  const second = await load();
  assert.equal(second.build.rebuilt, false);
  assert.equal(second.build.outFile, first.build.outFile);
  writeFileSync(join(dir, 'src', 'word.ts'), "export const word: string = 'Ahoy';\n");
  const third = await load();
  assert.equal(third.build.rebuilt, true);
  assert.notEqual(third.build.outFile, first.build.outFile);
  assert.equal(third.hello, 'Ahoy, Bo!');
});

test('a TypeScript compile error names the file and line', async () => {
  const dir = copySource('greeter', tempDir());
  writeFileSync(join(dir, 'src', 'word.ts'), 'export const word: string = ;\n');
  const m = manager(socketDir);
  try {
    await assert.rejects(m.load({ path: dir }), (err: Error & { code: string }) => {
      assert.equal(err.code, 'PLUGWIRE_SOURCE');
      assert.match(err.message, /compiling src\/plugin\.ts failed/);
      assert.match(err.message, /word\.ts:1:/);
      return true;
    });
  } finally {
    await m.close();
  }
});

/** `npm pack`s the greeter as a package whose word comes from a dependency (also packed). */
function packGreeterPackage(): string {
  const work = tempDir();
  const wordsTgz = join(
    work,
    sh(
      'npm',
      ['pack', '--silent', '--pack-destination', work],
      copySource('greeting-words', work),
    ).trim(),
  );
  const pkg = copySource('greeter', work, 'greeter-pkg');
  writeFileSync(
    join(pkg, 'src', 'word.ts'),
    "export { greeting as word } from 'greeting-words';\n",
  );
  writeManifest(pkg, {
    name: 'greeter',
    version: '2.0.0',
    entry: 'src/plugin.ts',
    plugins: ['greeter'],
  });
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({
      name: 'greeter',
      version: '2.0.0',
      type: 'module',
      files: ['plugin.json', 'src'],
      dependencies: { 'greeting-words': `file:${wordsTgz}` },
    }),
  );
  return join(work, sh('npm', ['pack', '--silent', '--pack-destination', work], pkg).trim());
}

test('a package tarball is installed into the cache with its dependencies', async () => {
  const tgz = packGreeterPackage();
  const m = manager(socketDir);
  try {
    const info = await m.load({ package: tgz });
    assert.deepEqual(
      [info.origin.kind, info.origin.resolved, info.origin.cached],
      ['package', 'greeter@2.0.0', false],
    );
    assert.ok(info.dir.startsWith(m.cacheDir), info.dir);
    assert.ok(
      existsSync(join(info.dir, '..', 'greeting-words', 'package.json')),
      'the dependency is installed',
    );
    const g = await m.dispense('greeter', greeter);
    assert.equal(await g.hello('Cy'), 'Howdy, Cy!');
  } finally {
    await m.close();
  }
});

/** A git repository with the greeter at v1.0.0 and v2.0.0 (tags), on branch main. */
function greeterRepo(): string {
  const repo = copySource('greeter', tempDir(), 'repo');
  const git = (...args: string[]) =>
    sh('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], repo);
  git('init', '--quiet', '--initial-branch=main');
  git('add', '.');
  git('commit', '--quiet', '-m', 'greeter 1.0.0');
  git('tag', '-a', 'v1.0.0', '-m', '1.0.0');
  writeManifest(repo, {
    name: 'greeter',
    version: '2.0.0',
    entry: 'src/plugin.ts',
    plugins: ['greeter'],
  });
  git('commit', '--quiet', '-am', 'greeter 2.0.0');
  git('tag', 'v2.0.0');
  return repo;
}

test('a git URL at a tag is cloned, built with its build script (allowScripts), and runs that version', async () => {
  const repo = greeterRepo();
  const m = manager(socketDir, { plugins: { greeter: { allowScripts: true } } });
  try {
    const url = pathToFileURL(repo).href;
    const info = await m.load({ git: url, ref: 'v1.0.0' }, { name: 'greeter' });
    assert.equal(info.origin.kind, 'git');
    assert.equal(info.origin.resolved, sh('git', ['rev-parse', 'v1.0.0^{commit}'], repo).trim());
    const g = await m.dispense('greeter', greeter);
    assert.equal(await g.version(), '1.0.0');
    assert.deepEqual(await g.built(), { builtBy: 'npm run build' });
  } finally {
    await m.close();
  }
});

test('a git checkout is cached by commit: loading the same ref again does not clone', async () => {
  const repo = greeterRepo();
  const cacheDir = tempDir('pw-cache-');
  const url = pathToFileURL(repo).href;
  const load = async (ref: string) => {
    const m = manager(socketDir, { cacheDir });
    try {
      return (await m.load({ git: url, ref })).origin;
    } finally {
      await m.close();
    }
  };
  const a = await load('v2.0.0');
  const b = await load('main'); // the same commit by another name
  assert.equal(a.cached, false);
  assert.equal(b.cached, true);
  assert.equal(b.resolved, a.resolved);
  const checkouts = readdirSync(join(cacheDir, 'git')).flatMap((d) =>
    readdirSync(join(cacheDir, 'git', d)),
  );
  assert.deepEqual(checkouts, [a.resolved]);
});

test('a git ref that does not exist lists the refs there are', async () => {
  const m = manager(socketDir);
  try {
    await assert.rejects(
      m.load({ git: pathToFileURL(greeterRepo()).href, ref: 'v9' }),
      /no branch or tag "v9" \(the repository has: .*v1\.0\.0/,
    );
  } finally {
    await m.close();
  }
});

test('a bundle with the right sha256 is unpacked and runs without an install', async () => {
  const dir = copySource('greeter', tempDir());
  const m = manager(socketDir);
  try {
    const packed = await packBundle(dir, tempDir(), { cacheDir: m.cacheDir, baseDir: dir });
    const info = await m.load({ bundle: packed.file, sha256: packed.sha256 });
    assert.deepEqual([info.origin.kind, info.origin.resolved], ['bundle', packed.sha256]);
    assert.deepEqual(readdirSync(info.dir).sort(), ['plugin.json', 'plugin.mjs']);
    const g = await m.dispense('greeter', greeter);
    assert.equal(await g.hello('Di'), 'Hello, Di!');
  } finally {
    await m.close();
  }
});

test('a bundle whose sha256 differs is refused with both hashes', async () => {
  const dir = copySource('greeter', tempDir());
  const m = manager(socketDir);
  try {
    const packed = await packBundle(dir, tempDir(), { cacheDir: m.cacheDir, baseDir: dir });
    const wrong = '0'.repeat(64);
    await assert.rejects(m.load({ bundle: packed.file, sha256: wrong }), (err: IntegrityError) => {
      assert.ok(err instanceof IntegrityError);
      assert.equal(err.code, 'PLUGWIRE_INTEGRITY');
      assert.equal(err.expected, wrong);
      assert.equal(err.actual, packed.sha256);
      return true;
    });
    assert.deepEqual(m.list(), []);
  } finally {
    await m.close();
  }
});
