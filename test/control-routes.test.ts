// Plugin HTTP routes: a manifest's `routes` served under /routes/<prefix> by the control
// server, with the documented request object and response shapes, errors as JSON with codes,
// limits, conflicts between plugins, and routes that follow upgrades and unloads.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ControlOptions, serveControl } from '@plugwire/control';
import { ManifestError, type PluginManager, RouteConflictError } from '@plugwire/manager';
import { cleanups, http, type Target, webFolder } from './control-helpers.js';
import { manager, tempDir } from './fixtures/manager/lib/helpers.js';
import { checkLeaks } from './helpers.js';

const later = cleanups();
const { socketDir } = checkLeaks();

const ROUTES = [
  { method: 'GET', path: '/api/sample/:id', handler: 'sample', label: 'one sample' },
  { method: 'POST', path: '/echo', handler: 'echoBody' },
  { method: 'GET', path: '/image.png', handler: 'image' },
  { method: 'GET', path: '/slow', handler: 'slow' },
  { method: 'GET', path: '/bad', handler: 'badStatus' },
  { method: 'GET', path: '/rows.csv', handler: 'stream', contentType: 'text/csv' },
  { method: 'GET', path: '/items', handler: 'items' },
  { method: 'GET', path: '/bad-header', handler: 'badHeader' },
];

async function host(
  options: ControlOptions = {},
  manifest: Record<string, unknown> = { routes: ROUTES },
): Promise<{ m: PluginManager; target: Target; dir: string }> {
  const dir = join(tempDir(), 'plugins');
  webFolder(dir, 'web', manifest);
  const m = manager(socketDir, { dirs: [dir], autoStart: true, killGrace: 500 });
  later(() => m.close());
  const s = await serveControl(m, options);
  later(() => s.close());
  const { errors } = await m.loadAll();
  assert.deepEqual(errors, []);
  return { m, target: { socket: s.socket! }, dir };
}

test('a route is served under /routes/<plugin name> with path params, query, label and route', async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/routes/web/api/sample/42?x=1&x=2&y=%C3%A9');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, {
    id: '42',
    label: 'one sample',
    query: { x: ['1', '2'], y: 'é' },
    path: '/api/sample/42',
    route: '/api/sample/:id',
  });
});

test('a handler answer with status, headers and json becomes that response (hop-by-hop headers dropped)', async () => {
  const { target } = await host();
  const r = await http(target, 'POST', '/routes/web/echo', { a: 1 });
  assert.equal(r.status, 201);
  assert.equal(r.headers['x-seen'], 'POST');
  assert.notEqual(r.headers['content-length'], '1');
  assert.deepEqual(r.json, { body: { a: 1 }, type: 'application/json' });
});

test('a body that is not JSON reaches the handler as bytes, text as a string', async () => {
  const { target } = await host();
  const bin = await http(target, 'POST', '/routes/web/echo', Buffer.from([1, 2, 3]), {
    'content-type': 'application/octet-stream',
  });
  assert.deepEqual(bin.json.body, { bytes: 3 });
  const text = await http(target, 'POST', '/routes/web/echo', 'hi there', {
    'content-type': 'text/plain',
  });
  assert.equal(text.json.body, 'hi there');
});

test('a handler answering bytes with a content type sends those bytes', async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/routes/web/image.png');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'image/png');
  assert.deepEqual([...r.bytes], [0x89, 0x50, 0x4e, 0x47]);
});

test("a handler answering a byte stream is streamed with the route's contentType", async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/routes/web/rows.csv?n=500');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/csv');
  const lines = r.text.trimEnd().split('\n');
  assert.equal(lines.length, 500);
  assert.equal(lines[499], 'row 499');
});

test('a handler answering an object stream gets 502 PLUGWIRE_ROUTE_BAD_RESPONSE', async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/routes/web/items');
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'PLUGWIRE_ROUTE_BAD_RESPONSE');
});

test("a handler's error becomes JSON with its code and the status it asks for", async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/routes/web/api/sample/missing');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json.error.code, 'SAMPLE_NOT_FOUND');
  assert.match(r.json.error.message, /no sample missing/);
  const plain = await http(target, 'GET', '/routes/web/api/sample/boom');
  assert.equal(plain.status, 500);
  assert.equal(plain.json.error.code, 'PLUGWIRE_ROUTE_FAILED');
});

test('an answer that is not a valid response is a 502 PLUGWIRE_ROUTE_BAD_RESPONSE', async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/routes/web/bad');
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'PLUGWIRE_ROUTE_BAD_RESPONSE');
});

test('a header value with CR/LF from a handler is refused (no response splitting)', async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/routes/web/bad-header');
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'PLUGWIRE_ROUTE_BAD_RESPONSE');
  assert.equal(r.headers['set-cookie'], undefined);
  assert.equal(r.headers['x-a'], undefined);
});

test('unknown paths answer 404 PLUGWIRE_ROUTE_NOT_FOUND, another method 405', async () => {
  const { target } = await host();
  const a = await http(target, 'GET', '/routes/web/nothing');
  assert.equal(a.status, 404);
  assert.equal(a.json.error.code, 'PLUGWIRE_ROUTE_NOT_FOUND');
  const b = await http(target, 'DELETE', '/routes/web/api/sample/1');
  assert.equal(b.status, 405);
  const c = await http(target, 'GET', '/routes/web/api/sample/%E0%A4%A');
  assert.equal(c.status, 400);
});

test('a handler slower than callTimeout is cancelled in the plugin, not left running', async () => {
  const { target, m } = await host({ callTimeout: 200 });
  const cancelled = new Promise<void>((resolve) => {
    m.on('log', (r) => {
      if (r.message === 'slow: cancelled') resolve();
    });
  });
  const slow = await http(target, 'GET', '/routes/web/slow');
  assert.equal(slow.status, 504);
  await cancelled;
});

test('a handler slower than callTimeout answers 504, a body over bodyLimit 413', async () => {
  const { target } = await host({ callTimeout: 200, bodyLimit: 512 });
  const slow = await http(target, 'GET', '/routes/web/slow');
  assert.equal(slow.status, 504);
  assert.equal(slow.json.error.code, 'PLUGWIRE_CONTROL_TIMEOUT');
  const big = await http(target, 'POST', '/routes/web/echo', Buffer.alloc(4096), {
    'content-type': 'application/octet-stream',
  });
  assert.equal(big.status, 413);
  assert.equal(big.json.error.code, 'PLUGWIRE_CONTROL_BODY_TOO_LARGE');
});

test('two plugins claiming one route is a load error naming both', async () => {
  const dir = join(tempDir(), 'plugins');
  const claim = {
    routePrefix: '/api',
    routes: [{ method: 'GET', path: '/x/:id', handler: 'sample' }],
  };
  webFolder(dir, 'alpha', claim);
  webFolder(dir, 'beta', {
    routePrefix: '/api',
    routes: [{ method: 'get', path: '/x/:other', handler: 'sample' }],
  });
  const m = manager(socketDir, { dirs: [dir] });
  later(() => m.close());
  const { errors } = await m.loadAll();
  assert.equal(errors.length, 1);
  const e = errors[0]!.error;
  assert.ok(e instanceof RouteConflictError);
  assert.equal(e.code, 'PLUGWIRE_ROUTE_CONFLICT');
  assert.match(
    e.message,
    /plugin "beta" declares route GET \/api\/x\/:other, which plugin "alpha" already serves/,
  );
});

test('a route naming an interface the plugin does not serve is a manifest error on that field', async () => {
  const dir = join(tempDir(), 'plugins');
  webFolder(dir, 'web', { routes: [{ method: 'GET', path: '/a', handler: 'nope.sample' }] });
  const m = manager(socketDir, { dirs: [dir] });
  later(() => m.close());
  const { errors } = await m.loadAll();
  assert.ok(errors[0]!.error instanceof ManifestError);
  assert.match(errors[0]!.error.message, /"routes\[0\]\.handler" names interface "nope"/);
});

test('routes follow an upgrade and disappear when the plugin is unloaded', async () => {
  const { m, target, dir } = await host();
  assert.equal((await http(target, 'GET', '/routes/web/image.png')).status, 200);
  const file = join(dir, 'web', 'plugin.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8'));
  manifest.routes = [{ method: 'GET', path: '/picture.png', handler: 'image' }];
  manifest.version = '1.1.0';
  writeFileSync(file, JSON.stringify(manifest));
  await m.upgrade('web');
  assert.equal((await http(target, 'GET', '/routes/web/image.png')).status, 404);
  assert.equal((await http(target, 'GET', '/routes/web/picture.png')).status, 200);
  await m.unload('web');
  const gone = await http(target, 'GET', '/routes/web/picture.png');
  assert.equal(gone.status, 404);
  assert.equal(gone.json.error.code, 'PLUGWIRE_ROUTE_NOT_FOUND');
});

test('a route hit starts a lazy plugin', async () => {
  const { m, target } = await host({}, { routes: ROUTES, activation: 'lazy' });
  assert.equal(m.get('web').state, 'stopped');
  const r = await http(target, 'GET', '/routes/web/api/sample/7');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.id, '7');
  assert.equal(m.get('web').state, 'running');
});

test('GET /api/routes lists every route with its plugin and full path', async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/api/routes');
  assert.deepEqual(r.json.routes[0], {
    plugin: 'web',
    method: 'GET',
    path: '/routes/web/api/sample/:id',
    handler: 'sample',
    label: 'one sample',
  });
});
