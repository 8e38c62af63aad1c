// `go test` of the Go sdk (go/), in GOPATH mode against Debian's packages, as part of the
// suite: its unit tests run a host and a plugin in one process over both codecs, and hostile
// peers (oversized frames, nesting bombs, invalid requests).
//
// Without Go this file fails, saying what to install, unless PLUGWIRE_SKIP_GO=1 (reported as
// skipped, never as passed).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { goMissing, goTestSdk, SDK_PACKAGES } from '../scripts/go.mjs';

const missing = goMissing(SDK_PACKAGES);
const skip =
  missing !== undefined && process.env.PLUGWIRE_SKIP_GO === '1'
    ? `PLUGWIRE_SKIP_GO=1 (${missing}): go test of the Go sdk is skipped`
    : false;

test('go test passes for the Go sdk', { skip, timeout: 600_000 }, async (t) => {
  if (missing !== undefined) {
    throw new Error(
      `${missing}. go test of the Go sdk needs Go and Debian's Go packages: run ` +
        '`node scripts/ensure-go.mjs`, or set PLUGWIRE_SKIP_GO=1 to skip it.',
    );
  }
  const workDir = mkdtempSync(join(tmpdir(), 'plugwire-go-test-'));
  t.after(() => rmSync(workDir, { recursive: true, force: true }));
  const out = await goTestSdk({ workDir });
  const passed = out.match(/^--- PASS: /gm)?.length ?? 0;
  t.diagnostic(`${passed} Go tests passed`);
  assert.match(out, /^ok\s+github\.com\/plugwire\/plugwire\/go/m);
  assert.doesNotMatch(out, /^--- FAIL/m);
  assert.ok(passed >= 20, `only ${passed} Go tests ran:\n${out}`);
});
