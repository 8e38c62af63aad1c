// `plugwire conformance -- <command…>`: runs the conformance kit against a plugin and prints
// one pass/fail line per item (docs/protocol.md §14).
import pc from 'picocolors';
import { type ConformanceResult, runConformance } from '../conformance.js';

/**
 * Runs the kit once with the host's default codec offer (msgpack, json) and once with json
 * only (every plugin must speak json), or once with `codec`. Exit code 0 when every item
 * passed.
 */
export async function conformanceCommand(
  command: readonly string[],
  o: { codec?: string },
): Promise<number> {
  const runs: Array<string | undefined> = o.codec ? [o.codec] : [undefined, 'json'];
  let failed = 0;
  let passed = 0;
  for (const codec of runs) {
    const label = codec ? `[${codec}]` : '[default codecs]';
    const print = (r: ConformanceResult) => {
      if (r.passed) {
        passed++;
        process.stdout.write(`${pc.green('✓')} ${label} ${r.item}\n`);
      } else {
        failed++;
        process.stdout.write(`${pc.red('✗')} ${label} ${r.item}: ${r.reason}\n`);
      }
    };
    await runConformance({ command, ...(codec ? { codec } : {}), onResult: print });
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}
