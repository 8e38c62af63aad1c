// The control API's endpoints (under /api, plus /metrics). Every answer is JSON; every
// failure is `{ "error": { "code", "message" } }` (see errors.ts).
import type { PluginInfo, PluginManager } from '@plugwire/manager';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ControlCodes, ControlError } from './errors.js';
import type { EventHub } from './events.js';
import type { Records } from './records.js';
import { type Series, totalsOf } from './series.js';
import { fromJson, toJsonText } from './values.js';

/** One plugin in the list: state, process and counters. */
export interface PluginRow {
  name: string;
  version: string;
  description: string | undefined;
  state: PluginInfo['state'];
  pid: number | undefined;
  uptimeMs: number | undefined;
  restarts: number;
  calls: number;
  errors: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  rssBytes: number | undefined;
  cpuSeconds: number | undefined;
  lastError: PluginInfo['lastError'];
  exitCode: number | null | undefined;
  exitSignal: string | null | undefined;
  retryAt: number | undefined;
  inflight: number;
  interfaces: string[];
  activation: 'eager' | 'lazy';
  idleTimeout: number | undefined;
  /** Where its HTTP routes are served, if it has any. */
  routePrefix: string | undefined;
}

export interface ApiContext {
  manager: PluginManager;
  records: Records;
  series: Series;
  hub: EventHub;
  callTimeout: number;
  logLines: number;
  version: string;
}

const METHOD = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const ACTIONS = ['start', 'stop', 'restart', 'reload'] as const;

/** The rows of every loaded plugin. */
export async function rows(manager: PluginManager): Promise<PluginRow[]> {
  const metrics = await manager.metrics();
  return manager.list().map((i) => row(manager, i, metrics[i.name]));
}

function row(
  manager: PluginManager,
  i: PluginInfo,
  m: Awaited<ReturnType<PluginManager['metrics']>>[string] | undefined,
): PluginRow {
  const t = totalsOf(m);
  const manifest = manager.manifest(i.name);
  return {
    name: i.name,
    version: i.version,
    description: i.description,
    state: i.state,
    pid: i.pid,
    uptimeMs: i.uptimeMs,
    restarts: i.restarts,
    calls: t.calls,
    errors: t.errors,
    p50Ms: t.p50Ms,
    p99Ms: t.p99Ms,
    rssBytes: t.rssBytes,
    cpuSeconds: t.cpuSeconds,
    lastError: i.lastError,
    exitCode: i.exitCode,
    exitSignal: i.exitSignal,
    retryAt: i.retryAt,
    inflight: i.inflight,
    interfaces: i.interfaces,
    activation: manifest.activation.mode,
    idleTimeout: manifest.activation.idleTimeout,
    routePrefix: manifest.routes?.prefix,
  };
}

/** Rejects after `ms` with a 504, leaving the call itself to finish (or fail) on its own. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new ControlError(504, ControlCodes.timeout, `${what} took longer than ${ms} ms`)),
      ms,
    );
  });
  // The losing promise's rejection is handled here so it never becomes an unhandled one.
  p.catch(() => {});
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function sendJson(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(text);
}

function body(b: unknown): Record<string, unknown> {
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b) || Buffer.isBuffer(b)) {
    throw new ControlError(
      400,
      ControlCodes.badRequest,
      'the body must be a JSON object (Content-Type: application/json)',
    );
  }
  return b as Record<string, unknown>;
}

export function registerApi(app: FastifyInstance, c: ApiContext): void {
  const { manager } = c;

  app.get('/api', async () => ({
    plugwire: c.version,
    pid: process.pid,
    endpoints: [
      'GET /api/plugins',
      'GET /api/plugins/:name',
      'POST /api/plugins/:name/call',
      'POST /api/plugins/:name/{start,stop,restart,reload}',
      'GET /api/plugins/:name/logs?lines=N',
      'GET /api/events',
      'GET /metrics',
      'GET /metrics.json',
    ],
  }));

  app.get('/api/plugins', async () => ({ plugins: await rows(manager) }));

  app.get<{ Params: { name: string } }>('/api/plugins/:name', async (req) => {
    const name = req.params.name;
    const info = manager.get(name);
    const manifest = manager.manifest(name);
    const methods: Record<string, string[] | null> = {};
    for (const [n, spec] of Object.entries(manifest.plugins)) methods[n] = spec.methods ?? null;
    let proc: { pid: number; protocolVersion: number; codec: string } | undefined;
    if (info.state === 'running') {
      // The running process knows its methods better than the manifest; a slow or dying
      // process must not hold the answer up.
      try {
        const x = await withTimeout(
          manager.inspect(name),
          2_000,
          'asking the plugin for its methods',
        );
        Object.assign(methods, x.methods);
        proc = x.process;
      } catch {
        // the manifest's methods then
      }
    }
    const metrics = (await manager.metrics())[name];
    return {
      plugin: row(manager, manager.get(name), metrics),
      manifest,
      methods,
      configSchema: manifest.configSchema ?? null,
      process: proc ?? null,
      origin: info.origin,
      dir: info.dir,
      states: c.records.states(name),
      samples: c.series.of(name),
    };
  });

  app.post<{ Params: { name: string } }>('/api/plugins/:name/call', async (req, reply) => {
    const name = req.params.name;
    const b = body(req.body);
    if (typeof b.method !== 'string' || !METHOD.test(b.method)) {
      throw new ControlError(
        400,
        ControlCodes.badRequest,
        '"method" must be a method name (letters, digits, "_")',
      );
    }
    if (
      b.interface !== undefined &&
      (typeof b.interface !== 'string' || b.interface.length > 214)
    ) {
      throw new ControlError(400, ControlCodes.badRequest, '"interface" must be an interface name');
    }
    const raw = b.args === undefined ? [] : Array.isArray(b.args) ? b.args : [b.args];
    const args = fromJson(raw) as unknown[];
    manager.get(name); // 404 before anything starts
    const started = performance.now();
    const result = await withTimeout(
      manager.call(name, b.method, args, b.interface ? { interface: b.interface } : {}),
      c.callTimeout,
      `${name}.${b.method}`,
    );
    const ms = performance.now() - started;
    return sendJson(reply, 200, `{"result":${toJsonText(result)},"ms":${ms.toFixed(3)}}`);
  });

  for (const action of ACTIONS) {
    app.post<{ Params: { name: string } }>(`/api/plugins/:name/${action}`, async (req) => {
      const name = req.params.name;
      manager.get(name);
      const info = action === 'reload' ? await manager.upgrade(name) : await manager[action](name);
      return { plugin: info };
    });
  }

  app.get<{ Params: { name: string }; Querystring: { lines?: string } }>(
    '/api/plugins/:name/logs',
    async (req) => {
      const name = req.params.name;
      manager.get(name);
      const q = req.query.lines;
      const n = q === undefined ? 100 : Number(q);
      if (!Number.isInteger(n) || n < 1 || n > c.logLines) {
        throw new ControlError(
          400,
          ControlCodes.badRequest,
          `"lines" must be an integer from 1 to ${c.logLines}`,
        );
      }
      return { lines: c.records.logs(name, n) };
    },
  );

  app.get('/api/events', async (_req, reply) => {
    if (c.hub.full) {
      throw new ControlError(
        503,
        ControlCodes.tooManyClients,
        'too many event-stream clients; try again later',
      );
    }
    const first = { plugins: await rows(manager), time: Date.now() };
    reply.hijack();
    c.hub.add(reply.raw, first);
  });

  app.get('/metrics', async (_req, reply) =>
    reply.type(manager.registry.contentType).send(await manager.prometheus()),
  );
  app.get('/metrics.json', async () => manager.metrics());
}
