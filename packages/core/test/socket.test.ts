import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { checkLeaks } from '../../../test/support/leaks.js';
import { listen, MAX_SOCKET_PATH, removeSocketDir } from '../src/socket.js';

checkLeaks();

test('the unix socket lives in a fresh 0700 directory and is itself 0600', async () => {
  const l = await listen({ network: 'unix' });
  try {
    assert.equal(statSync(dirname(l.address)).mode & 0o777, 0o700);
    assert.equal(statSync(l.address).mode & 0o777, 0o600);
    assert.match(l.address, /plugwire-[^/]+\/plugin\.sock$/);
  } finally {
    l.close();
  }
  assert.equal(existsSync(dirname(l.address)), false, 'close() removes the directory');
});

test('a socket dir that would make the path too long is replaced by a shorter one', async () => {
  const base = mkdtempSync(join(tmpdir(), 'pw-long-'));
  const deep = join(base, 'x'.repeat(60), 'y'.repeat(60));
  mkdirSync(deep, { recursive: true });
  const l = await listen({ network: 'unix', socketDir: deep });
  try {
    assert.ok(Buffer.byteLength(l.address) <= MAX_SOCKET_PATH, l.address);
    assert.ok(!l.address.startsWith(deep));
  } finally {
    l.close();
    rmSync(base, { recursive: true, force: true });
  }
});

test('tcp listens on loopback within the port range', async () => {
  const l = await listen({ network: 'tcp', minPort: 40100, maxPort: 40110 });
  try {
    const [host, port] = l.address.split(':');
    assert.equal(host, '127.0.0.1');
    assert.ok(Number(port) >= 40100 && Number(port) <= 40110);
  } finally {
    l.close();
  }
});

test('removing a socket never removes a directory plugwire did not create', () => {
  const dir = mkdtempSync(join(tmpdir(), 'not-ours-'));
  removeSocketDir(join(dir, 'plugin.sock'));
  assert.equal(existsSync(dir), true);
  rmSync(dir, { recursive: true });
});
