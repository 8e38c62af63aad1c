// The control API of @plugwire/control against a real manager, real plugin processes and a
// real unix socket (and TCP listener): what each endpoint answers, and that hostile input
// gets a 4xx with a stable code and never hurts the host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ControlOptions, type ControlServer, serveControl } from '@plugwire/control';
import { controlSocketPath, type PluginManager } from '@plugwire/manager';
import { cleanups, events, http, type Target, webFolder } from './control-helpers.js';
import { echoFolder, manager, tempDir } from './fixtures/manager/lib/helpers.js';
import { checkLeaks, isAlive } from './helpers.js';

const later = cleanups();
const { socketDir } = checkLeaks();

/** A manager over a fresh plugin folder (echo + web), loaded, with its control server. */
async function host(
  options: ControlOptions = {},
  setup?: (dir: string) => void,
): Promise<{
  m: PluginManager;
  target: Target & { socket: string };
  dir: string;
  socket: string;
  server: ControlServer;
}> {
  const dir = join(tempDir(), 'plugins');
  echoFolder(dir, 'echo', {
    configSchema: { type: 'object', properties: { greeting: { type: 'string' } } },
  });
  webFolder(dir, 'web');
  setup?.(dir);
  const m = manager(socketDir, { dirs: [dir], autoStart: true, killGrace: 500 });
  later(() => m.close());
  // Served before loading, as `plugwire run` does: the first starts are recorded too.
  const s = await serveControl(m, { sampleInterval: 50, ...options });
  later(() => s.close());
  const { errors } = await m.loadAll();
  assert.deepEqual(errors, []);
  return { m, target: { socket: s.socket! }, dir, socket: s.socket!, server: s };
}

test('the control socket is next to the plugins folder and only its owner may open it', async () => {
  const { dir, socket } = await host();
  assert.equal(socket, controlSocketPath(dir));
  assert.equal(socket, join(dir, '..', '.plugins.plugwire.sock'));
  assert.ok(statSync(socket).isSocket());
  assert.equal(statSync(socket).mode & 0o777, 0o600);
});

test('GET /api/plugins lists every plugin with state, version, pid, uptime, restarts and call figures', async () => {
  const { target, m } = await host();
  await m.call('echo', 'add', [1, 2]);
  await m.call('echo', 'fail', ['no']).catch(() => {});
  const r = await http(target, 'GET', '/api/plugins');
  assert.equal(r.status, 200);
  const echo = r.json.plugins.find((p: { name: string }) => p.name === 'echo');
  assert.equal(echo.state, 'running');
  assert.equal(echo.version, '1.0.0');
  assert.ok(echo.pid > 0 && isAlive(echo.pid));
  assert.ok(echo.uptimeMs >= 0);
  assert.equal(echo.restarts, 0);
  assert.equal(echo.calls, 2);
  assert.equal(echo.errors, 1);
  assert.ok(echo.p50Ms > 0 && echo.p99Ms >= echo.p50Ms, JSON.stringify(echo));
  assert.ok(echo.rssBytes > 1024 * 1024);
  assert.equal(typeof echo.cpuSeconds, 'number');
  assert.deepEqual(
    r.json.plugins.map((p: { name: string }) => p.name),
    ['echo', 'web'],
  );
});

test('GET /api/plugins/:name gives the manifest, methods, config schema and recent state changes', async () => {
  const { target } = await host();
  const r = await http(target, 'GET', '/api/plugins/echo');
  assert.equal(r.status, 200);
  assert.equal(r.json.manifest.name, 'echo');
  assert.deepEqual(r.json.methods.echo.slice(0, 3), ['hello', 'add', 'sleep']);
  assert.deepEqual(r.json.configSchema, {
    type: 'object',
    properties: { greeting: { type: 'string' } },
  });
  assert.equal(r.json.process.codec, 'msgpack');
  assert.deepEqual(
    r.json.states.map((s: { from: string; to: string }) => `${s.from}>${s.to}`),
    ['stopped>starting', 'starting>running'],
  );
});

test('POST /api/plugins/:name/call takes JSON arguments and answers the JSON result', async () => {
  const { target } = await host();
  const r = await http(target, 'POST', '/api/plugins/echo/call', { method: 'add', args: [2, 40] });
  assert.equal(r.status, 200);
  assert.equal(r.json.result, 42);
  assert.equal(typeof r.json.ms, 'number');
  const one = await http(target, 'POST', '/api/plugins/echo/call', {
    method: 'hello',
    args: 'Ada',
  });
  assert.equal(one.json.result, 'Hello, Ada!');
});

test('bytes travel as base64 both ways through a call', async () => {
  const { target } = await host();
  const r = await http(target, 'POST', '/api/plugins/web/call', {
    method: 'reverse',
    args: [{ $bytes: Buffer.from([1, 2, 3]).toString('base64') }],
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Buffer.from(r.json.result.$bytes, 'base64'), Buffer.from([3, 2, 1]));
});

test("a plugin method's own error answers 502 with the code the plugin gave it", async () => {
  const { target } = await host();
  const r = await http(target, 'POST', '/api/plugins/echo/call', {
    method: 'fail',
    args: ['nope'],
  });
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'PLUGWIRE_CALL_FAILED');
  assert.match(r.json.error.message, /nope/);
});

test('an unknown method answers 404 PLUGWIRE_CONTROL_NO_SUCH_METHOD', async () => {
  const { target } = await host();
  const r = await http(target, 'POST', '/api/plugins/echo/call', { method: 'nothing' });
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'PLUGWIRE_CONTROL_NO_SUCH_METHOD');
});

test('stop, start, restart and reload move the plugin and answer its new state', async () => {
  const { target, m } = await host();
  const before = m.get('echo').pid;
  const stopped = await http(target, 'POST', '/api/plugins/echo/stop');
  assert.equal(stopped.status, 200);
  assert.equal(stopped.json.plugin.state, 'stopped');
  const started = await http(target, 'POST', '/api/plugins/echo/start');
  assert.equal(started.json.plugin.state, 'running');
  assert.notEqual(started.json.plugin.pid, before);
  const restarted = await http(target, 'POST', '/api/plugins/echo/restart');
  assert.equal(restarted.json.plugin.state, 'running');
  assert.equal(restarted.json.plugin.restarts, 1);
  const reloaded = await http(target, 'POST', '/api/plugins/echo/reload');
  assert.equal(reloaded.status, 200, reloaded.text);
  assert.equal(reloaded.json.plugin.state, 'running');
});

test('GET /api/plugins/:name/logs answers the last N log lines of that plugin', async () => {
  const { target, m } = await host();
  for (const n of [1, 2, 3]) await m.call('web', 'log', [`line ${n}`]);
  const r = await http(target, 'GET', '/api/plugins/web/logs?lines=2');
  assert.equal(r.status, 200);
  assert.deepEqual(
    r.json.lines.map((l: { message: string }) => l.message),
    ['line 2', 'line 3'],
  );
  assert.equal(r.json.lines[0].plugin, 'web');
});

test('the event stream carries state changes, log lines and metric samples as they happen', async () => {
  const { target, m } = await host();
  const ev = events(target);
  later(() => ev.close());
  const hello = await ev.opened;
  assert.deepEqual(
    hello.plugins.map((p: { name: string }) => p.name),
    ['echo', 'web'],
  );
  await m.call('web', 'log', ['over the stream']);
  const log = await ev.next('log', (d) => d.message === 'over the stream');
  assert.equal(log.plugin, 'web');
  void m.restart('echo');
  const st = await ev.next('state', (d) => d.plugin === 'echo' && d.to === 'running');
  assert.equal(st.info.state, 'running');
  const metrics = await ev.next('metrics', (d) => d.samples.echo !== undefined);
  assert.equal(typeof metrics.samples.echo.callsPerSec, 'number');
});

test('GET /metrics answers the Prometheus text of the manager', async () => {
  const { target, m } = await host();
  await m.call('echo', 'add', [1, 1]);
  const r = await http(target, 'GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain/);
  assert.match(r.text, /plugwire_plugin_calls_total\{plugin="echo",method="add"\} 1/);
});

// ---- hostile input -----------------------------------------------------------------------

test('a body that is not JSON answers 400 PLUGWIRE_CONTROL_BAD_REQUEST', async () => {
  const { target } = await host();
  const r = await http(target, 'POST', '/api/plugins/echo/call', '{"method": "add", "args": [1,', {
    'content-type': 'application/json',
  });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'PLUGWIRE_CONTROL_BAD_REQUEST');
});

test('a body over the limit answers 413 PLUGWIRE_CONTROL_BODY_TOO_LARGE', async () => {
  const { target } = await host({ bodyLimit: 1024 });
  const r = await http(target, 'POST', '/api/plugins/echo/call', {
    method: 'hello',
    args: ['x'.repeat(2048)],
  });
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'PLUGWIRE_CONTROL_BODY_TOO_LARGE');
});

test('arguments nested deeper than 64 levels answer 400 before they reach a codec', async () => {
  const { target, m } = await host();
  const deep = `{"method":"hello","args":[${'['.repeat(5000)}${']'.repeat(5000)}]}`;
  const r = await http(target, 'POST', '/api/plugins/echo/call', deep, {
    'content-type': 'application/json',
  });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'PLUGWIRE_CONTROL_BAD_REQUEST');
  assert.equal(await m.call('echo', 'add', [1, 1]), 2);
});

test('a method name that is not an identifier (protocol methods, paths) answers 400', async () => {
  const { target } = await host();
  for (const method of ['$/cancelRequest', 'plugwire/info', '', 'a'.repeat(200), 42, null]) {
    const r = await http(target, 'POST', '/api/plugins/echo/call', { method });
    assert.equal(r.status, 400, `${JSON.stringify(method)}: ${r.text}`);
    assert.equal(r.json.error.code, 'PLUGWIRE_CONTROL_BAD_REQUEST');
  }
});

test('a body that is a JSON array, string or number instead of an object answers 400', async () => {
  const { target } = await host();
  for (const body of ['[1,2]', '"add"', '7']) {
    const r = await http(target, 'POST', '/api/plugins/echo/call', body, {
      'content-type': 'application/json',
    });
    assert.equal(r.status, 400, body);
    assert.equal(r.json.error.code, 'PLUGWIRE_CONTROL_BAD_REQUEST');
  }
});

test('__proto__ in a body answers 400 and pollutes nothing', async () => {
  const { target } = await host();
  const r = await http(
    target,
    'POST',
    '/api/plugins/echo/call',
    '{"method":"add","args":[1,2],"__proto__":{"polluted":true}}',
    { 'content-type': 'application/json' },
  );
  assert.equal(r.status, 400);
  assert.equal(({} as { polluted?: boolean }).polluted, undefined);
});

test('an unknown plugin answers 404 PLUGWIRE_PLUGIN_NOT_FOUND, an unknown path 404, an overlong name 414', async () => {
  const { target } = await host();
  const a = await http(target, 'GET', '/api/plugins/nope');
  assert.equal(a.status, 404);
  assert.equal(a.json.error.code, 'PLUGWIRE_PLUGIN_NOT_FOUND');
  const b = await http(target, 'GET', '/api/nothing/here');
  assert.equal(b.status, 404);
  assert.equal(b.json.error.code, 'PLUGWIRE_CONTROL_NOT_FOUND');
  const c = await http(target, 'GET', `/api/plugins/${'x'.repeat(1000)}`);
  assert.equal(c.status, 414, c.text);
  assert.equal(c.json.error.code, 'PLUGWIRE_CONTROL_BAD_REQUEST');
});

test('lines out of range answers 400 with the allowed range', async () => {
  const { target } = await host();
  for (const q of ['0', '-1', 'abc', '1.5', '100000']) {
    const r = await http(target, 'GET', `/api/plugins/echo/logs?lines=${q}`);
    assert.equal(r.status, 400, q);
    assert.match(r.json.error.message, /from 1 to 1000/);
  }
});

test('garbage bytes and half requests on the socket leave the host serving', async () => {
  const { target, socket, m } = await host();
  const junk = [
    Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]),
    Buffer.from('GET /api/plugins HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n'),
    Buffer.from('POST /api/plugins/echo/call HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
    Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\n\r\n`),
  ];
  await Promise.all(
    junk.map(
      (bytes) =>
        new Promise<void>((resolve) => {
          const s = connect(socket);
          s.on('error', () => resolve());
          s.on('close', () => resolve());
          s.on('connect', () => s.end(bytes));
          s.resume();
        }),
    ),
  );
  const r = await http(target, 'GET', '/api/plugins');
  assert.equal(r.status, 200);
  assert.equal(m.get('echo').state, 'running');
});

test('a plugin flooding its log keeps only logLines lines per plugin, each cut at 8 KiB', async () => {
  const { target, m } = await host({ logLines: 50 });
  const huge = 'z'.repeat(40_000);
  for (let i = 0; i < 120; i++) await m.call('web', 'log', [i % 2 ? huge : `small ${i}`]);
  const r = await http(target, 'GET', '/api/plugins/web/logs?lines=50');
  assert.equal(r.status, 200);
  assert.equal(r.json.lines.length, 50);
  for (const l of r.json.lines) assert.ok(l.message.length <= 8 * 1024 + 1, `${l.message.length}`);
  assert.equal(r.json.lines.at(-2).message, 'small 118');
  const over = await http(target, 'GET', '/api/plugins/web/logs?lines=51');
  assert.equal(over.status, 400);
});

test('a call slower than callTimeout answers 504 PLUGWIRE_CONTROL_TIMEOUT', async () => {
  const { target } = await host({ callTimeout: 200 });
  const r = await http(target, 'POST', '/api/plugins/web/call', { method: 'slow' });
  assert.equal(r.status, 504);
  assert.equal(r.json.error.code, 'PLUGWIRE_CONTROL_TIMEOUT');
});

test('an event-stream client that does not read is cut off at maxEventBacklog', async () => {
  const { socket, m } = await host({ maxEventBacklog: 64 * 1024 });
  const s = connect(socket);
  later(() => s.destroy());
  await new Promise<void>((r) => s.on('connect', () => r()));
  s.write('GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n');
  s.pause(); // never reads
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('error', () => {});
  const big = 'y'.repeat(8000);
  let done = false;
  void closed.then(() => {
    done = true;
  });
  for (let i = 0; i < 2000 && !done; i++) await m.call('web', 'log', [big]);
  // The host ended the stream rather than queueing every line for it.
  s.resume();
  await closed;
});

// ---- where it listens --------------------------------------------------------------------

test('on TCP a request without the bearer token answers 401 PLUGWIRE_CONTROL_UNAUTHORIZED', async () => {
  const { server } = await host({ port: 0 });
  const port = Number(new URL(server.url!).port);
  const none = await http({ port }, 'GET', '/api/plugins');
  assert.equal(none.status, 401);
  assert.equal(none.json.error.code, 'PLUGWIRE_CONTROL_UNAUTHORIZED');
  const wrong = await http({ port }, 'GET', '/api/plugins', undefined, {
    authorization: `Bearer ${'x'.repeat(server.token!.length)}`,
  });
  assert.equal(wrong.status, 401);
});

test('on TCP the bearer token from the 0600 token file lets a request through', async () => {
  const { server } = await host({ port: 0 });
  const port = Number(new URL(server.url!).port);
  assert.equal(statSync(server.tokenFile!).mode & 0o777, 0o600);
  const token = readFileSync(server.tokenFile!, 'utf8').trim();
  assert.equal(token, server.token);
  const r = await http({ port }, 'GET', '/api/plugins', undefined, {
    authorization: `Bearer ${token}`,
  });
  assert.equal(r.status, 200);
});

test('on TCP a request for another Host name (DNS rebinding) answers 403 even with the token', async () => {
  const { server } = await host({ port: 0 });
  const port = Number(new URL(server.url!).port);
  const r = await http({ port }, 'GET', '/api/plugins', undefined, {
    authorization: `Bearer ${server.token}`,
    host: `evil.example:${port}`,
  });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'PLUGWIRE_CONTROL_FORBIDDEN_HOST');
});

test('on TCP /?token= sets an HttpOnly SameSite=Strict cookie and redirects to a URL without it', async () => {
  const { server } = await host({ port: 0 });
  const port = Number(new URL(server.url!).port);
  const r = await http({ port }, 'GET', `/?token=${server.token}`);
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/');
  const cookie = String(r.headers['set-cookie']);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const api = await http({ port }, 'GET', '/api/plugins', undefined, {
    cookie: cookie.split(';')[0]!,
  });
  assert.equal(api.status, 200);
});

test('a stale socket left by a dead host is replaced; a live one is refused with PLUGWIRE_CONTROL_SOCKET_IN_USE', async () => {
  const dir = join(tempDir(), 'plugins');
  echoFolder(dir, 'echo');
  const sock = controlSocketPath(dir);
  // A live listener on the path: another host.
  const other = createServer(() => {});
  await new Promise<void>((r) => other.listen(sock, r));
  const m = manager(socketDir, { dirs: [dir] });
  later(() => m.close());
  await assert.rejects(serveControl(m), { code: 'PLUGWIRE_CONTROL_SOCKET_IN_USE' });
  await new Promise<void>((r) => other.close(() => r()));
  // What a host killed with SIGKILL leaves: the socket file, nobody listening.
  spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.ok(statSync(sock).isSocket());
  const s = await serveControl(m);
  later(() => s.close());
  const r = await http({ socket: sock }, 'GET', '/api/plugins');
  assert.equal(r.status, 200);
});

test('a file that is not a socket where the socket goes is left alone and refused', async () => {
  const dir = join(tempDir(), 'plugins');
  echoFolder(dir, 'echo');
  const sock = controlSocketPath(dir);
  writeFileSync(sock, 'precious');
  const m = manager(socketDir, { dirs: [dir] });
  later(() => m.close());
  await assert.rejects(serveControl(m), { code: 'PLUGWIRE_CONTROL_SOCKET_IN_USE' });
  assert.equal(statSync(sock).size, 'precious'.length);
});

test('a plugin stopped while the event stream is open still leaves the host serving', async () => {
  const { target, m } = await host();
  const ev = events(target);
  later(() => ev.close());
  await ev.opened;
  await m.stop('web');
  await ev.next('state', (d) => d.plugin === 'web' && d.to === 'stopped');
  const r = await http(target, 'GET', '/api/plugins/web');
  assert.equal(r.json.plugin.state, 'stopped');
});
