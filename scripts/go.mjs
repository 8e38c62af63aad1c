// Building the Go programs of the tests (the yamux interop peer, the Go plugin) against
// Debian's Go packages in GOPATH mode: the one place that knows how.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Where Debian's golang-*-dev packages put their sources. */
export const DEBIAN_GOPATH = '/usr/share/gocode';

/** What bench/go (the go-plugin contender) imports besides the standard library. */
export const GO_PLUGIN_PACKAGES = [
  'github.com/hashicorp/go-plugin',
  'github.com/hashicorp/yamux',
  'google.golang.org/grpc',
  'golang.org/x/net/context',
  'github.com/golang/protobuf/proto',
];

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

/**
 * The one rule for tests that need Go: the reason they are skipped, or false when they run.
 * `PLUGWIRE_SKIP_GO=1` skips them, whether Go is there or not (the explicit opt-out of
 * scripts/ensure-go.mjs). Nothing else does: without the opt-out a missing Go fails them
 * (see requireGo), and in CI (`CI=true`) the opt-out is ignored, so CI skips nothing.
 */
export function goSkip() {
  if (process.env.PLUGWIRE_SKIP_GO !== '1') return false;
  if (process.env.CI === 'true') return false;
  const missing = goMissing();
  return `PLUGWIRE_SKIP_GO=1${missing ? ` (${missing})` : ''}: the tests that need Go are skipped`;
}

/**
 * Throws, saying what to install, when Go or one of `packages` is missing: for the tests
 * that goSkip() did not skip.
 */
export function requireGo(packages) {
  const missing = goMissing(packages);
  if (missing === undefined) return;
  throw new Error(
    `${missing}. This test needs Go and Debian's Go packages: run \`node scripts/ensure-go.mjs\` ` +
      '(as root it installs them with apt-get), or set PLUGWIRE_SKIP_GO=1 to skip the tests ' +
      'that need Go (not honoured when CI=true).',
  );
}
