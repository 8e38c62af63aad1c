import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLeaks } from '../../../test/support/leaks.js';
import { createLogger, LineSplitter, parseLogLine } from '../src/logs.js';

checkLeaks();

test('an hclog JSON line becomes a structured record at its level with its fields', () => {
  const r = parseLogLine(
    JSON.stringify({
      '@level': 'warn',
      '@message': 'disk almost full',
      '@timestamp': '2026-11-25T10:00:00.000Z',
      '@module': 'kv',
      free: 12,
    }),
    'kv-plugin',
  );
  assert.deepEqual(r, {
    level: 'warn',
    message: 'disk almost full',
    timestamp: '2026-11-25T10:00:00.000Z',
    module: 'kv',
    fields: { free: 12 },
    structured: true,
    plugin: 'kv-plugin',
  });
});

test('any other line passes through as text at info level', () => {
  for (const line of ['plain text', '{"not":"hclog"}', '{broken json}', '']) {
    const r = parseLogLine(line, 'p');
    assert.deepEqual([r.level, r.message, r.structured], ['info', line, false]);
  }
});

test('hclog level names are read case-insensitively, unknown ones as info', () => {
  assert.equal(parseLogLine('{"@level":"ERROR","@message":"x"}', 'p').level, 'error');
  assert.equal(parseLogLine('{"@level":"warning","@message":"x"}', 'p').level, 'warn');
  assert.equal(parseLogLine('{"@level":"loud","@message":"x"}', 'p').level, 'info');
});

test('the plugin-side logger writes hclog JSON that the host parses back', () => {
  const lines: string[] = [];
  const log = createLogger({ name: 'kv', write: (l) => lines.push(l), level: 'debug' });
  log.trace('dropped below the level');
  log.info('stored', { key: 'a', bytes: 3 });
  log.error('failed', { error: new Error('boom') });
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('\n')));
  const info = parseLogLine(lines[0]!.trimEnd(), 'p');
  assert.deepEqual(
    [info.level, info.message, info.module, info.fields],
    ['info', 'stored', 'kv', { key: 'a', bytes: 3 }],
  );
  const err = parseLogLine(lines[1]!.trimEnd(), 'p');
  assert.equal((err.fields.error as { message: string }).message, 'boom');
});

test('lines are split on LF and CRLF, across chunks, with multi-byte characters intact', () => {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l));
  const bytes = Buffer.from('héllo\r\nwörld\npartial');
  for (const b of bytes) s.push(Buffer.from([b]));
  s.end();
  assert.deepEqual(out, ['héllo', 'wörld', 'partial']);
});

test('a line longer than the limit is emitted in pieces, not dropped', () => {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), 10);
  s.push(`${'a'.repeat(25)}\nshort\n`);
  s.push('b'.repeat(23));
  s.end();
  assert.deepEqual(out, [
    'a'.repeat(10),
    'a'.repeat(10),
    'a'.repeat(5),
    'short',
    'b'.repeat(10),
    'b'.repeat(10),
    'b'.repeat(3),
  ]);
});
