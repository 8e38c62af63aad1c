// The manager against hostile inputs (issue #13 item 11): a package, a git URL, a manifest or
// a bundle written to make the host run something it did not mean to. Each test shows the
// attack doing nothing (no marker file written, a typed error naming plugin and field), and
// where a setting allows the behaviour, that it is the setting that does.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ArchiveError,
  EntryOutsideError,
  IntegrityError,
  ManifestError,
  packBundle,
  SourceRefusedError,
} from '@plugwire/manager';
import { greeter } from './fixtures/manager/greeter-api.js';
import { copySource, manager, sh, tempDir, writeManifest } from './fixtures/manager/lib/helpers.js';
import { checkLeaks } from './helpers.js';

const { socketDir } = checkLeaks();
const scriptsFixture = fileURLToPath(
  new URL('./fixtures/hostile-manager-scripts', import.meta.url),
);

// npm must not reach a registry, nor write outside the test's folders.
process.env.npm_config_offline = 'true';
process.env.npm_config_cache = tempDir('pw-npm-cache-');
process.env.npm_config_update_notifier = 'false';

/** A marker file that the hostile scripts and commands write to; read back as lines. */
function marker(): { path: string; lines: () => string[] } {
  const path = join(tempDir(), 'marker');
  return {
    path,
    lines: () => (existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n') : []),
  };
}

/** The hostile-scripts fixture packed by `npm pack`. */
function packScripts(): string {
  const work = tempDir();
  const dir = join(work, 'src');
  cpSync(scriptsFixture, dir, { recursive: true });
  return join(work, sh('npm', ['pack', '--silent', '--pack-destination', work], dir).trim());
}

/** The hostile-scripts fixture as a git repository (a file:// URL). */
function scriptsRepo(): string {
  const repo = join(tempDir(), 'repo');
  cpSync(scriptsFixture, repo, { recursive: true });
  const git = (...args: string[]) =>
    sh('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], repo);
  git('init', '--quiet', '--initial-branch=main');
  git('add', '.');
  git('commit', '--quiet', '-m', 'hostile');
  return pathToFileURL(repo).href;
}

test('loading a package tarball runs none of its install scripts', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const mark = marker();
  process.env.PW_HOSTILE_MARKER = mark.path;
  t.after(() => delete process.env.PW_HOSTILE_MARKER);
  const info = await m.load({ package: packScripts() });
  assert.equal(info.name, 'hostile-scripts');
  assert.deepEqual(mark.lines(), []);
});

test('allowScripts in the plugin settings lets npm run the install scripts', async (t) => {
  const m = manager(socketDir, { plugins: { 'hostile-scripts': { allowScripts: true } } });
  t.after(() => m.close());
  const mark = marker();
  process.env.PW_HOSTILE_MARKER = mark.path;
  t.after(() => delete process.env.PW_HOSTILE_MARKER);
  await m.load({ package: packScripts() }, { name: 'hostile-scripts' });
  assert.deepEqual(mark.lines(), ['preinstall', 'postinstall']);
});

test('loading a git source runs neither its install scripts nor its build script', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const mark = marker();
  process.env.PW_HOSTILE_MARKER = mark.path;
  t.after(() => delete process.env.PW_HOSTILE_MARKER);
  const info = await m.load({ git: scriptsRepo(), ref: 'main' });
  assert.equal(info.origin.kind, 'git');
  assert.deepEqual(mark.lines(), []);
});

test('a git source whose entry needs its build script says that scripts are off', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const repo = copySource('greeter', tempDir(), 'repo');
  writeManifest(repo, {
    name: 'greeter',
    version: '1.0.0',
    entry: 'dist/plugin.mjs',
    plugins: ['greeter'],
  });
  sh('git', ['init', '--quiet', '--initial-branch=main'], repo);
  sh('git', ['add', '.'], repo);
  sh('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'x'], repo);
  await assert.rejects(m.load({ git: pathToFileURL(repo).href }), (err: ManifestError) => {
    assert.ok(err instanceof ManifestError);
    assert.equal(err.field, 'entry');
    assert.equal(err.plugin, 'greeter');
    assert.match(err.message, /build script was not run.*"allowScripts": true/);
    return true;
  });
});

test('a git URL that git would read as an option is refused before git runs', async (t) => {
  // Run where `plugwire list` often runs: inside a git checkout with a remote. There,
  // `git ls-remote --upload-pack=<cmd>` runs <cmd> to list the checkout's own remote.
  const project = join(tempDir(), 'project');
  mkdirSync(project);
  sh('git', ['init', '--quiet'], project);
  sh('git', ['remote', 'add', 'origin', fileURLToPath(scriptsRepo())], project);
  const cwd = process.cwd();
  process.chdir(project);
  t.after(() => process.chdir(cwd));
  const m = manager(socketDir);
  t.after(() => m.close());
  const mark = marker();
  const evil = join(tempDir(), 'evil.sh');
  writeFileSync(evil, `#!/bin/sh\necho upload-pack >> ${mark.path}\nexit 1\n`, { mode: 0o755 });
  await assert.rejects(
    m.load({ git: `--upload-pack=${evil}` }, { name: 'evil' }),
    (err: SourceRefusedError) => {
      assert.ok(err instanceof SourceRefusedError);
      assert.equal(err.code, 'PLUGWIRE_SOURCE_REFUSED');
      assert.equal(err.field, 'git');
      assert.equal(err.plugin, 'evil');
      assert.match(err.message, /^plugin "evil": .*"git" must not start with "-"/);
      return true;
    },
  );
  assert.deepEqual(mark.lines(), [], 'git ran the upload-pack command');
});

test('git transports that run commands (ext::, fd::) are refused', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const mark = marker();
  for (const url of [`ext::sh -c touch% ${mark.path}`, 'ext::true', 'fd::3']) {
    await assert.rejects(m.load({ git: url }), (err: SourceRefusedError) => {
      assert.equal(err.code, 'PLUGWIRE_SOURCE_REFUSED', url);
      assert.equal(err.field, 'git');
      return true;
    });
  }
  assert.equal(existsSync(mark.path), false);
});

test('an ssh URL whose host starts with "-" is refused', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  await assert.rejects(m.load({ git: 'ssh://-oProxyCommand=touch%20x/repo' }), {
    code: 'PLUGWIRE_SOURCE_REFUSED',
  });
});

test('a git ref that starts with "-" or holds odd characters is refused', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const url = scriptsRepo();
  for (const ref of ['--upload-pack=x', 'main..other', 'a b', 'x;y', 'ref@{1}']) {
    await assert.rejects(m.load({ git: url, ref }), (err: SourceRefusedError) => {
      assert.ok(err instanceof SourceRefusedError, ref);
      assert.equal(err.field, 'ref');
      return true;
    });
  }
});

/** A plugin folder whose manifest has a command entry. */
function commandFolder(entry: Record<string, unknown>): string {
  const dir = join(tempDir(), 'evil');
  mkdirSync(dir, { recursive: true });
  writeManifest(dir, { name: 'evil', version: '1.0.0', entry, plugins: ['echo'] });
  return dir;
}

test('a manifest command that climbs out of the plugin folder is refused and never runs', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const mark = marker();
  const dir = commandFolder({
    command: '../../../../../../../../bin/sh',
    args: ['-c', `touch ${mark.path}`],
  });
  await assert.rejects(m.load({ path: dir }), (err: EntryOutsideError) => {
    assert.ok(err instanceof EntryOutsideError);
    assert.equal(err.code, 'PLUGWIRE_ENTRY_OUTSIDE');
    assert.equal(err.field, 'entry.command');
    assert.equal(err.plugin, 'evil');
    assert.equal(err.file, join(dir, 'plugin.json'));
    return true;
  });
  assert.equal(existsSync(mark.path), false);
});

test('a manifest command given as an absolute path is refused', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const dir = commandFolder({ command: '/bin/sh', args: ['-c', 'true'] });
  await assert.rejects(m.load({ path: dir }), {
    code: 'PLUGWIRE_ENTRY_OUTSIDE',
    field: 'entry.command',
  });
});

test('a manifest command that is a symlink out of the plugin folder is refused', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const dir = commandFolder({ command: 'bin/plugin' });
  mkdirSync(join(dir, 'bin'));
  symlinkSync('/bin/sh', join(dir, 'bin', 'plugin'));
  await assert.rejects(m.load({ path: dir }), {
    code: 'PLUGWIRE_ENTRY_OUTSIDE',
    field: 'entry.command',
  });
});

test('a node entry that is a symlink out of the plugin folder is refused', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const outside = join(tempDir(), 'elsewhere.mjs');
  writeFileSync(outside, '');
  const dir = join(tempDir(), 'evil');
  mkdirSync(dir);
  writeManifest(dir, { name: 'evil', version: '1.0.0', entry: 'index.mjs', plugins: ['echo'] });
  symlinkSync(outside, join(dir, 'index.mjs'));
  await assert.rejects(m.load({ path: dir }), { code: 'PLUGWIRE_ENTRY_OUTSIDE', field: 'entry' });
});

test('a bare command name is looked up on PATH, as before', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const info = await m.load({ path: commandFolder({ command: 'node', args: ['x.mjs'] }) });
  assert.equal(info.name, 'evil');
});

test('a cached bundle changed after unpacking is written again from the verified bytes', async (t) => {
  const dir = copySource('greeter', tempDir());
  const cacheDir = tempDir('pw-cache-');
  const packed = await packBundle(dir, tempDir(), { cacheDir, baseDir: dir });
  const load = async () => {
    const m = manager(socketDir, { cacheDir });
    t.after(() => m.close());
    const info = await m.load({ bundle: packed.file, sha256: packed.sha256 });
    const g = await m.dispense('greeter', greeter);
    const hello = await g.hello('Ed');
    await m.close();
    return { info, hello };
  };
  const first = await load();
  assert.equal(first.hello, 'Hello, Ed!');
  // Anything that can write the cache (another plugin of this user) swaps the code.
  writeFileSync(
    join(first.info.dir, 'plugin.mjs'),
    "import { serve } from '@plugwire/sdk'; process.exit(9);\n",
  );
  const second = await load();
  assert.equal(second.info.origin.cached, false, 'the tampered copy was not reused');
  assert.equal(second.hello, 'Hello, Ed!');
});

test('a bundle that is not a gzipped tar is an ArchiveError naming the plugin and the file', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const file = join(tempDir(), 'broken.plugwire.tgz');
  writeFileSync(file, 'this is not a tarball\n');
  const { createHash } = await import('node:crypto');
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  await assert.rejects(
    m.load({ bundle: file, sha256 }, { name: 'weather' }),
    (err: ArchiveError) => {
      assert.ok(err instanceof ArchiveError);
      assert.equal(err.code, 'PLUGWIRE_ARCHIVE');
      assert.equal(err.plugin, 'weather');
      assert.equal(err.source, file);
      assert.match(err.message, /^plugin "weather": .*broken\.plugwire\.tgz: is not a gzipped tar/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
});

test('a bundle with a symlink entry is refused, naming the entry', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const stage = tempDir();
  writeManifest(stage, { name: 'evil', version: '1.0.0', entry: 'index.mjs', plugins: ['echo'] });
  symlinkSync('/etc/passwd', join(stage, 'index.mjs'));
  const file = join(tempDir(), 'evil.plugwire.tgz');
  sh('tar', ['czf', file, 'plugin.json', 'index.mjs'], stage);
  const { createHash } = await import('node:crypto');
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  await assert.rejects(m.load({ bundle: file, sha256 }), (err: ArchiveError) => {
    assert.equal(err.code, 'PLUGWIRE_ARCHIVE');
    assert.equal(err.file, 'index.mjs');
    assert.match(err.message, /entry "index\.mjs": is a SymbolicLink/);
    return true;
  });
});

test('a package .tgz that is not a gzipped tar is an ArchiveError before npm runs', async (t) => {
  const m = manager(socketDir);
  t.after(() => m.close());
  const file = join(tempDir(), 'weather-1.0.0.tgz');
  writeFileSync(file, 'not gzip');
  await assert.rejects(m.load({ package: file }, { name: 'weather' }), (err: ArchiveError) => {
    assert.equal(err.code, 'PLUGWIRE_ARCHIVE');
    assert.equal(err.plugin, 'weather');
    assert.match(err.message, /weather-1\.0\.0\.tgz: is not a gzipped tar made by `npm pack`/);
    return true;
  });
});

test('a bundle copy changed between load and start is refused at start, and its code never runs', async () => {
  const dir = copySource('greeter', tempDir());
  const cacheDir = tempDir('pw-cache-');
  const packed = await packBundle(dir, tempDir(), { cacheDir, baseDir: dir });
  const mark = marker();
  const m = manager(socketDir, { cacheDir });
  try {
    const info = await m.load({ bundle: packed.file, sha256: packed.sha256 }, { name: 'greeter' });
    writeFileSync(
      join(info.dir, 'plugin.mjs'),
      `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(mark.path)}, 'ran');\n`,
    );
    await assert.rejects(m.start('greeter'), (err: IntegrityError) => {
      assert.ok(err instanceof IntegrityError);
      assert.equal(err.code, 'PLUGWIRE_INTEGRITY');
      assert.equal(err.plugin, 'greeter');
      assert.match(err.message, /plugin\.mjs was changed/);
      return true;
    });
    assert.equal(m.get('greeter').state, 'failed');
    assert.deepEqual(mark.lines(), []);
  } finally {
    await m.close();
  }
});
