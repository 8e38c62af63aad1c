// Building the Go programs of the tests (the yamux interop peer, the Go plugin) against
// Debian's Go packages in GOPATH mode: the one place that knows how.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

/** The Go sdk's import path (go/go.mod) and its sources in this repository. */
export const SDK_IMPORT_PATH = 'github.com/plugwire/plugwire/go';
export const SDK_DIR = fileURLToPath(new URL('../go', import.meta.url));

/** What the Go sdk imports from Debian's packages (scripts/ensure-go.mjs installs them). */
export const SDK_PACKAGES = [
  'github.com/hashicorp/yamux',
  'github.com/hashicorp/go-hclog',
  'github.com/vmihailenco/msgpack/v5',
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
 * The environment of a GOPATH-mode build in `workDir`: Debian's sources, then a GOPATH of
 * its own in which the sdk is linked at its import path (GOPATH mode knows no go.mod).
 */
export function goEnv(workDir) {
  const gopath = join(workDir, 'gopath');
  const link = join(gopath, 'src', SDK_IMPORT_PATH);
  if (!existsSync(link)) {
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(SDK_DIR, link);
  }
  return {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: `${DEBIAN_GOPATH}:${gopath}`,
    GOCACHE: process.env.GOCACHE || join(workDir, 'gocache'),
    GOFLAGS: '',
    CGO_ENABLED: '0',
  };
}

/**
 * `go build -o out target` in GOPATH mode, without cgo, with a build cache in `workDir`
 * unless the caller has one. Throws with the compiler's output when the build fails.
 */
export async function goBuild({ target, out, cwd, workDir }) {
  try {
    await promisify(execFile)('go', ['build', '-o', out, target], { cwd, env: goEnv(workDir) });
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

/**
 * `go test` of the sdk in GOPATH mode. Resolves with the output (`-v`); rejects with it
 * when a test fails.
 */
export async function goTestSdk({ workDir, timeoutMs = 300_000 }) {
  try {
    const { stdout } = await promisify(execFile)(
      'go',
      ['test', '-count=1', '-v', SDK_IMPORT_PATH],
      { env: goEnv(workDir), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout;
  } catch (err) {
    throw new Error(
      `go test ${SDK_IMPORT_PATH} failed:\n${err.stdout || ''}${err.stderr || err.message}`,
    );
  }
}
