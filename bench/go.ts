// The go-plugin contender: bench/go/main.go built against Debian's Go packages (GOPATH
// mode) into the run's temp dir. Absent Go, or a failed build, skips the contender with a
// note; it never fails the run.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const GOPATH = '/usr/share/gocode';
const SOURCES = fileURLToPath(new URL('../go/', import.meta.url));
/** What go-plugin 1.0.1 (net/rpc) needs besides itself: yamux, hclog, gRPC, x/net, protobuf. */
const NEEDED = [
  'github.com/hashicorp/go-plugin',
  'github.com/hashicorp/yamux',
  'google.golang.org/grpc',
  'golang.org/x/net/context',
  'github.com/golang/protobuf/proto',
];

export type GoBuild = { binary: string; version: string } | { skipped: string };

export function buildGo(dir: string): GoBuild {
  const v = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (v.status !== 0) return { skipped: 'go is not installed' };
  const missing = NEEDED.filter((p) => !existsSync(join(GOPATH, 'src', p)));
  if (missing.length > 0) {
    return {
      skipped: `Go packages missing under ${GOPATH}: ${missing.join(', ')} (node scripts/ensure-go.mjs installs them)`,
    };
  }
  const binary = join(dir, 'benchgo');
  const r = spawnSync('go', ['build', '-o', binary, '.'], {
    cwd: SOURCES,
    encoding: 'utf8',
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: `${GOPATH}:${join(dir, 'gopath')}`,
      CGO_ENABLED: '0',
      GOFLAGS: '',
      // The user's build cache when there is one (go-plugin's gRPC dependency takes ~50 s
      // to compile the first time, ~3 s from the cache), else a throw-away one.
      ...(process.env.GOCACHE || process.env.XDG_CACHE_HOME || process.env.HOME
        ? {}
        : { GOCACHE: join(dir, 'gocache') }),
    },
  });
  if (r.status !== 0) return { skipped: `go build failed:\n${r.stderr}` };
  return { binary, version: v.stdout.trim().replace(/^go version /, '') };
}
