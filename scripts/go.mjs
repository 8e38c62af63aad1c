// Building the Go programs of the tests (the yamux interop peer, the Go plugin) against
// Debian's Go packages in GOPATH mode: the one place that knows how.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Where Debian's golang-*-dev packages put their sources. */
export const DEBIAN_GOPATH = '/usr/share/gocode';

/**
 * Why Go cannot build against `packages` here (undefined when it can): no `go`, or a
 * package missing from Debian's GOPATH.
 */
export function goMissing(packages = ['github.com/hashicorp/yamux']) {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'the go command is not installed';
  for (const p of packages) {
    const dir = join(DEBIAN_GOPATH, 'src', p);
    if (!existsSync(dir)) return `the Go package ${p} is not in ${dir}`;
  }
  return undefined;
}

/**
 * `go build -o out target` in GOPATH mode, without cgo, with a build cache in `workDir`
 * unless the caller has one. Throws with the compiler's output when the build fails.
 */
export async function goBuild({ target, out, cwd, workDir }) {
  try {
    await promisify(execFile)('go', ['build', '-o', out, target], {
      cwd,
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: `${DEBIAN_GOPATH}:${join(workDir, 'gopath')}`,
        GOCACHE: process.env.GOCACHE || join(workDir, 'gocache'),
        GOFLAGS: '',
        CGO_ENABLED: '0',
      },
    });
  } catch (err) {
    throw new Error(`go build ${target} failed: ${err.stderr || err.message}`);
  }
}
