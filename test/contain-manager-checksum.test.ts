// A checksum must cover the code that runs (issue #13 item 11). For a Node plugin that is the
// script Node runs; a command line that makes Node load other code (`--require pre.js`,
// `--import`, `-r`, NODE_OPTIONS), or where the script cannot be told from an option's value,
// is refused before anything starts, with ChecksumCoverageError.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChecksumCoverageError, PluginClient } from '@plugwire/core';
import { tempDir } from './fixtures/manager/lib/helpers.js';
import { checkLeaks, fixture } from './helpers.js';

const { socketDir } = checkLeaks();

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A harmless file whose hash the host pins, and a hostile script that leaves a marker. */
function files(): { pre: string; evil: string; marker: string } {
  const dir = tempDir();
  const pre = join(dir, 'pre.cjs');
  const evil = join(dir, 'evil.cjs');
  const marker = join(dir, 'marker');
  writeFileSync(pre, '// pinned and harmless\n');
  writeFileSync(evil, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
  return { pre, evil, marker };
}

function client(args: string[], hash: string, env?: Record<string, string>): PluginClient {
  return new PluginClient({
    command: process.execPath,
    args,
    plugins: { calc: {} },
    unixSocketDir: socketDir,
    checksum: { hash },
    ...(env ? { env } : {}),
  });
}

async function refused(c: PluginClient, argument: string): Promise<void> {
  await assert.rejects(c.start(), (err: ChecksumCoverageError) => {
    assert.ok(err instanceof ChecksumCoverageError, String(err));
    assert.equal(err.code, 'PLUGWIRE_CHECKSUM_COVERAGE');
    assert.equal(err.argument, argument);
    return true;
  });
  assert.equal(c.pid, undefined, 'no process was started');
}

test('--require of the pinned file in front of another script is refused, and nothing runs', async (t) => {
  const f = files();
  const c = client(['--require', f.pre, f.evil], sha256(f.pre));
  t.after(() => c.kill());
  await refused(c, '--require');
  assert.equal(existsSync(f.marker), false, 'the unchecked script ran');
});

test('every code-loading node option is refused: --import, --loader, --eval, -r', async (t) => {
  const f = files();
  for (const [args, at] of [
    [[`--import=${f.evil}`, f.pre], `--import=${f.evil}`],
    [['--experimental-loader', f.evil, f.pre], '--experimental-loader'],
    [['--eval', 'x', f.pre], '--eval'],
    [['-r', f.evil, f.pre], '-r'],
    [['--inspect=0.0.0.0:9229', f.pre], '--inspect=0.0.0.0:9229'],
  ] as const) {
    const c = client([...args], sha256(f.pre));
    t.after(() => c.kill());
    await refused(c, at);
  }
  assert.equal(existsSync(f.marker), false);
});

test('an option that may take the script as its value is refused, not guessed', async (t) => {
  const f = files();
  // node --title pre.cjs evil.cjs runs evil.cjs with the title "pre.cjs"
  const c = client(['--title', f.pre, f.evil], sha256(f.pre));
  t.after(() => c.kill());
  await refused(c, '--title');
  assert.equal(existsSync(f.marker), false);
});

test("NODE_OPTIONS in the plugin's environment that loads code is refused", async (t) => {
  const f = files();
  const c = client([f.pre], sha256(f.pre), { NODE_OPTIONS: `--require ${f.evil}` });
  t.after(() => c.kill());
  await refused(c, 'NODE_OPTIONS');
  assert.equal(existsSync(f.marker), false);
});

test('the checksum covers the script after value-less options and after --', async (t) => {
  const script = fixture('calc-plugin');
  for (const args of [
    ['--enable-source-maps', '--no-warnings', script],
    ['--max-old-space-size=256', '--', script],
  ]) {
    const c = client(args, sha256(script));
    t.after(() => c.kill());
    await c.start();
    assert.ok(c.pid);
    await c.kill();
  }
});
