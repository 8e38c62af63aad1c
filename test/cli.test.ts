// The plugwire command, run as a user runs it: a separate process per command.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  copySource,
  EVENT_DEADLINE_MS,
  echoFolder,
  fixtures,
  tempDir,
} from './fixtures/manager/lib/helpers.js';
import { checkLeaks, isAlive } from './helpers.js';

const { socketDir } = checkLeaks();
const root = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(root, 'packages', 'manager', 'dist', 'cli', 'main.js');
const plugins = join(fixtures, 'plugins');
const cacheDir = tempDir('pw-cli-cache-');

// Plugins started by the CLI make their socket directories in its TMPDIR: the test's socket
// dir, which the leak check wants empty after each test.
const env = { ...process.env, TMPDIR: socketDir, NO_COLOR: '1', FORCE_COLOR: undefined };

/**
 * Longest run of one command: far above a healthy one on a loaded machine (compiling, packing
 * and starting plugins take seconds), so only a hang reaches it, and then fails the test.
 */
const COMMAND_DEADLINE_MS = 120_000;

function start(args: string[], cwd = root): ChildProcess {
  return spawn(process.execPath, [CLI, ...args, '--cache-dir', cacheDir], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: COMMAND_DEADLINE_MS,
    killSignal: 'SIGKILL',
  });
}

async function plugwire(
  args: string[],
  cwd = root,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = start(args, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { code, stdout, stderr };
}

test('plugwire list prints each plugin with its version, state, source and description', async () => {
  const r = await plugwire(['list', '--dir', plugins]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+VERSION\s+STATE\s+SOURCE\s+INTERFACES\s+DESCRIPTION$/);
  assert.match(lines[1]!, /^echo\s+1\.0\.0\s+stopped\s+path\s+echo\s+Echoes, adds and sleeps/);
  assert.match(
    lines[2]!,
    /^echo-sh\s+0\.3\.0\s+stopped\s+path\s+echo\s+The echo plugin behind a shell script/,
  );
});

test('plugwire list reports a broken manifest by file and field and exits 1', async () => {
  const dir = tempDir();
  echoFolder(dir, 'good');
  echoFolder(dir, 'bad', { name: 'Bad Name' });
  const r = await plugwire(['list', '--dir', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^echo\s+1\.0\.0/m);
  assert.match(r.stderr, /✗ .*bad\/plugin\.json: "name" must be lower-case letters/);
});

test('plugwire inspect shows the manifest, the running state and the methods the plugin reports', async () => {
  const r = await plugwire(['inspect', 'echo', '--dir', plugins]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^echo 1\.0\.0$/m);
  assert.match(r.stdout, /^ {2}maintainers\s+plugwire team <team@plugwire\.invalid>$/m);
  assert.match(r.stdout, /^ {2}protocol\s+versions 1; running v1, msgpack$/m);
  assert.match(
    r.stdout,
    /^ {4}echo: hello, add, sleep, version, config, hooks, pid, crash, fail, burn, gate, cpu$/m,
  );
  const pid = Number(/^ {2}state\s+running, pid (\d+)/m.exec(r.stdout)?.[1]);
  assert.ok(pid > 0, r.stdout);
  assert.equal(isAlive(pid), false, 'the plugin stopped with the command');
});

test('plugwire call prints the result of a method as JSON', async () => {
  const r = await plugwire(['call', 'echo', 'sleep', '[1]', '--dir', plugins]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { ms: 1, version: '1.0.0' });
});

test('plugwire call of a method that throws prints the error and exits 1', async () => {
  const r = await plugwire(['call', 'echo', 'fail', '"no such key"', '--dir', plugins]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /plugwire: echo\.fail failed: no such key/);
});

test('plugwire new scaffolds a TypeScript plugin whose test passes and which plugwire can call', async () => {
  const dir = tempDir();
  const made = await plugwire(['new', 'hello-world', '--into', dir]);
  assert.equal(made.code, 0, made.stderr);
  const folder = join(dir, 'hello-world');
  for (const f of [
    'package.json',
    'plugin.json',
    'src/api.ts',
    'src/impl.ts',
    'src/plugin.ts',
    'test/hello-world.test.ts',
  ]) {
    assert.ok(existsSync(join(folder, f)), f);
  }
  // `npm install` would bring @plugwire/sdk and tsx: the workspace's stand in for it.
  symlinkSync(join(root, 'node_modules'), join(folder, 'node_modules'));
  // NODE_TEST_CONTEXT would make the inner runner report to this one instead of printing.
  const testRun = execFileSync(
    process.execPath,
    // tap: the default reporter without a TTY on Node 20, `spec` on Node 24
    ['--import', 'tsx', '--test', '--test-reporter=tap', 'test/hello-world.test.ts'],
    {
      cwd: folder,
      encoding: 'utf8',
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    },
  );
  // `# pass 1` (tap, Node 20 and 22) or `ℹ pass 1` (spec, Node 24's default without a TTY)
  assert.match(testRun, /^(# |ℹ )pass 1$/m);
  assert.match(testRun, /^(# |ℹ )fail 0$/m);
  const called = await plugwire(['call', 'hello-world', 'hello', '["Ada"]', '--dir', dir]);
  assert.equal(called.code, 0, called.stderr);
  assert.equal(JSON.parse(called.stdout), 'Hello, Ada!');
});

test('a scaffold from plugwire new installs and passes its test outside this repository', async () => {
  const dir = tempDir(); // under the system temp folder: no workspace node_modules above it
  const made = await plugwire(['new', 'hi-there', '--into', dir]);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /vendor\/ \(the @plugwire packages/);
  const folder = join(dir, 'hi-there');
  const pkg = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
  for (const p of ['sdk', 'core', 'rpc', 'mux']) {
    const spec = pkg.dependencies[`@plugwire/${p}`] as string;
    assert.match(spec, new RegExp(`^file:vendor/plugwire-${p}-\\d+\\.\\d+\\.\\d+\\.tgz$`));
    assert.ok(existsSync(join(folder, spec.slice('file:'.length))), spec);
  }
  const npm = (args: string[]) =>
    execFileSync('npm', args, {
      cwd: folder,
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    });
  npm(['install', '--no-audit', '--no-fund', '--loglevel=error']);
  const testRun = npm(['test']);
  // `# pass 1` (tap, Node 20 and 22) or `ℹ pass 1` (spec, Node 24's default without a TTY)
  assert.match(testRun, /^(# |ℹ )pass 1$/m);
  assert.match(testRun, /^(# |ℹ )fail 0$/m);
});

test('plugwire pack writes a bundle that a config loads by its sha256', async () => {
  const dir = tempDir();
  const src = copySource('greeter', dir);
  const packed = await plugwire(['pack', src, '--out', dir]);
  assert.equal(packed.code, 0, packed.stderr);
  const [file, shaLine] = packed.stdout.split('\n');
  const sha = shaLine!.replace('sha256 ', '');
  assert.equal(createHash('sha256').update(readFileSync(file!)).digest('hex'), sha);
  const config = join(dir, 'plugwire.config.json');
  writeFileSync(
    config,
    JSON.stringify({ plugins: { greeter: { source: { bundle: file, sha256: sha } } } }),
  );
  const r = await plugwire(['call', 'greeter', 'hello', '["Bo"]', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), 'Hello, Bo!');
});

test('plugwire call prints a compile error whole: the file:line:col and the code', async () => {
  const dir = tempDir();
  const src = copySource('greeter', dir);
  writeFileSync(join(src, 'src', 'word.ts'), 'export const word: string = ;\n');
  const r = await plugwire(['call', 'greeter', 'hello', '["Bo"]', '--dir', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /compiling src\/plugin\.ts failed/);
  assert.match(r.stderr, /src\/word\.ts:1:\d+: ERROR/);
  assert.match(r.stderr, /\(PLUGWIRE_SOURCE\)/);
  assert.doesNotMatch(r.stderr, /no plugin "greeter" is loaded/);
});

test("plugwire call prints a crashing plugin's stderr lines, not only the first line", async () => {
  const dir = tempDir();
  const folder = echoFolder(dir, 'echo');
  writeFileSync(
    join(folder, 'index.mjs'),
    "console.error('first stderr line'); console.error('second stderr line'); process.exit(4);\n",
  );
  const r = await plugwire(['call', 'echo', 'add', '[1, 2]', '--dir', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /first stderr line/);
  assert.match(r.stderr, /second stderr line/);
});

test('plugwire call of a plugin whose bundle is broken prints one typed error and no noise', async () => {
  const dir = tempDir();
  const file = join(dir, 'weather.plugwire.tgz');
  writeFileSync(file, 'not a tarball');
  const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
  const config = join(dir, 'plugwire.config.json');
  writeFileSync(
    config,
    JSON.stringify({ plugins: { weather: { source: { bundle: file, sha256: sha } } } }),
  );
  const r = await plugwire(['call', 'weather', 'now', '[]', '--config', config]);
  assert.equal(r.code, 1);
  // Besides the one line saying it runs the plugins itself (no host is running for them).
  const [where, ...lines] = r.stderr.trimEnd().split('\n');
  assert.match(where!, /^plugwire: no running host .*loading the plugins in this process$/);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0]!,
    /^✗ plugin "weather": .*weather\.plugwire\.tgz: is not a gzipped tar .*\(PLUGWIRE_ARCHIVE\)$/,
  );
});

test('plugwire pack gives the same sha256 for the same folder, whenever it is packed', async () => {
  const dir = tempDir();
  const src = copySource('greeter', dir);
  const sha = async (out: string) => {
    const r = await plugwire(['pack', src, '--out', join(dir, out)]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n')[1];
  };
  const first = await sha('a');
  // The files get other times (as a checkout or a copy gives them); their content is the same.
  const later = new Date(Date.now() + 3_600_000);
  for (const f of ['plugin.json', 'src/plugin.ts', 'src/word.ts'])
    utimesSync(join(src, f), later, later);
  assert.equal(await sha('b'), first);
});

/** Lines of a child's stdout, and a way to wait for one that matches. */
function lines(child: ChildProcess) {
  const all: string[] = [];
  const waiting: Array<{ re: RegExp; resolve: (m: RegExpExecArray) => void }> = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      all.push(line);
      for (const w of [...waiting]) {
        const m = w.re.exec(line);
        if (m) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  });
  return {
    all,
    /** The first line, already printed or still to come, that matches (rejects after EVENT_DEADLINE_MS). */
    next(re: RegExp): Promise<RegExpExecArray> {
      for (const line of all) {
        const m = re.exec(line);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (m: RegExpExecArray) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(w), 1);
          reject(
            new Error(`no line matching ${re} within ${EVENT_DEADLINE_MS} ms:\n${all.join('\n')}`),
          );
        }, EVENT_DEADLINE_MS);
        waiting.push(w);
      });
    },
  };
}

test('plugwire run prints the table and a line per state change, and stops every plugin on SIGINT', async () => {
  const child = start(['run', plugins, '--no-live', '--no-watch']);
  const out = lines(child);
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const echoRow = await out.next(/^echo\s+1\.0\.0\s+running\s+(\d+)\s/);
  const shRow = await out.next(/^echo-sh\s+0\.3\.0\s+running\s+(\d+)\s/);
  const pids = [Number(echoRow[1]), Number(shRow[1])];
  const crashed = out.next(/ echo running → crashed \(killed by SIGKILL, restart in \d+ ms\)$/);
  const restarted = out.next(/ echo starting → running \(pid (\d+), v1\.0\.0\)$/);
  process.kill(pids[0]!, 'SIGKILL');
  await crashed;
  pids.push(Number((await restarted)[1]));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  const text = out.all.join('\n');
  assert.match(text, /^plugwire run: plugins from .*plugins; Ctrl-C stops$/m);
  assert.match(
    text,
    /^NAME\s+VERSION\s+STATE\s+PID\s+UPTIME\s+RESTARTS\s+CALLS\s+ERRORS\s+RSS\s+CPU\s+LAST ERROR$/m,
  );
  assert.match(text, /^plugwire run: SIGINT, stopping 2 plugin\(s\)$/m);
  assert.match(text, / echo-sh stopping → stopped$/m);
  assert.equal(out.all.at(-1), 'plugwire run: stopped');
  for (const pid of pids) assert.equal(isAlive(pid), false, `plugin ${pid} stopped`);
});

test("plugwire run --metrics-port serves the plugins' metrics in Prometheus format", async () => {
  const child = start(['run', plugins, '--no-live', '--no-watch', '--metrics-port', '0']);
  const out = lines(child);
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const url = (await out.next(/metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)$/))[1]!;
  await out.next(/^echo-sh\s+0\.3\.0\s+running/);
  const res = await fetch(url);
  const text = await res.text();
  assert.equal(res.status, 200);
  assert.match(text, /^plugwire_plugin_state\{plugin="echo",state="running"\} 1$/m);
  assert.match(text, /^plugwire_plugin_resident_memory_bytes\{plugin="echo-sh"\} \d+$/m);
  child.kill('SIGINT');
  assert.equal(await exited, 0);
});
