// The control server: one fastify app served on a unix socket (0600) and, when asked, on
// 127.0.0.1:PORT with a bearer token. It follows the manager's events into the records, the
// metric series and the event stream, and serves the API, the dashboard and plugin routes.
import { chmodSync, existsSync, lstatSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlSocketPath, type PluginManager } from '@plugwire/manager';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerApi, rows } from './api.js';
import { checkTcp, isToken, newToken, TOKEN_COOKIE, tokenOf } from './auth.js';
import {
  type ControlOptions,
  type ResolvedControlOptions,
  resolveControlOptions,
} from './config.js';
import { registerDashboard } from './dashboard.js';
import { ControlCodes, ControlError, toHttpError } from './errors.js';
import { EventHub } from './events.js';
import { PluginRoutes } from './plugin-routes.js';
import { Records } from './records.js';
import { Series } from './series.js';

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** A running control server; close() stops it (the manager keeps running). */
export interface ControlServer {
  /** The unix socket it serves on, if any. */
  readonly socket: string | undefined;
  /** `http://127.0.0.1:PORT` when serving on TCP. */
  readonly url: string | undefined;
  /** The TCP listener's bearer token (also in `tokenFile`). */
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  /** The fastify app (to add a host's own routes before it is used). */
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

// fastify's own error codes for bodies it cannot read, as the API's codes.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ControlCodes.bodyTooLarge,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ControlCodes.unsupportedMedia,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ControlCodes.badRequest,
  FST_ERR_CTP_EMPTY_JSON_BODY: ControlCodes.badRequest,
  FST_ERR_CTP_INVALID_JSON_BODY: ControlCodes.badRequest,
  FST_ERR_BAD_URL: ControlCodes.badRequest,
};

/**
 * Serves the control plane of `manager`: the API, the event stream, /metrics, the web
 * dashboard and the plugins' HTTP routes. Nothing a client sends can throw out of it.
 */
export async function serveControl(
  manager: PluginManager,
  options: ControlOptions = {},
): Promise<ControlServer> {
  const defaultSocket = manager.dirs[0] ? controlSocketPath(manager.dirs[0]) : false;
  const socketOpt = options.socket === undefined ? defaultSocket : options.socket;
  if (socketOpt === false && options.socket === undefined && options.port === undefined) {
    throw new TypeError(
      'serveControl: the manager has no plugin directory to put the socket next to; give options.socket or options.port',
    );
  }
  const o: ResolvedControlOptions = resolveControlOptions(options, socketOpt);

  const records = new Records(o.logLines, o.historyLength);
  const series = new Series(o.samples);
  const hub = new EventHub(o.maxEventClients, o.maxEventBacklog);
  const routes = new PluginRoutes(manager, o.callTimeout);

  let handler!: (req: IncomingMessage, res: ServerResponse) => void;
  const app = Fastify({
    bodyLimit: o.bodyLimit,
    logger: false,
    // Bodies of any type reach plugin routes as bytes; the API checks its own.
    serverFactory: (h) => {
      handler = h;
      return createServer(h);
    },
    return503OnClosing: true,
    // Errors of the router itself (a bad URL, a parameter over maxParamLength) take the same
    // JSON form as every other failure.
    frameworkErrors: (err, _req, reply) => {
      const e = err as { code?: unknown; statusCode?: unknown; message: string };
      const status = typeof e.statusCode === 'number' ? e.statusCode : 400;
      void (reply as import('fastify').FastifyReply).code(status).send({
        error: { code: ControlCodes.badRequest, message: e.message.slice(0, 300) },
      });
    },
    // A path parameter of several kilobytes is not a plugin name.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const tcpRequests = new WeakSet<IncomingMessage>();
  let token: string | undefined;
  let port = 0;
  app.addHook('onRequest', async (req, reply) => {
    if (!tcpRequests.has(req.raw)) return;
    const url = new URL(req.url, 'http://control');
    const fromQuery = url.searchParams.get('token');
    // The dashboard's entry: `/?token=…` sets the cookie and drops the token from the URL.
    if (req.method === 'GET' && url.pathname === '/' && fromQuery !== null) {
      checkTcp(req.raw, token!, port, fromQuery);
      return reply
        .header('set-cookie', `${TOKEN_COOKIE}=${fromQuery}; HttpOnly; SameSite=Strict; Path=/`)
        .redirect('/', 303);
    }
    checkTcp(req.raw, token!, port, tokenOf(req.raw));
    if (isToken(fromQuery, token!)) return;
  });
  app.setErrorHandler((err, _req, reply) => {
    const e = err as { code?: unknown; statusCode?: unknown; message: string };
    if (typeof e.code === 'string' && e.code.startsWith('FST_')) {
      const status = typeof e.statusCode === 'number' ? e.statusCode : 400;
      const code = FASTIFY_CODES[e.code] ?? ControlCodes.badRequest;
      return reply.code(status).send({ error: { code, message: e.message } });
    }
    const { status, body } = toHttpError(err);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: {
        code: ControlCodes.notFound,
        message: `no endpoint ${req.method} ${req.url.slice(0, 200)}`,
      },
    }),
  );

  registerApi(app, {
    manager,
    records,
    series,
    hub,
    callTimeout: o.callTimeout,
    logLines: o.logLines,
    version,
  });
  app.get('/api/routes', async () => ({ routes: routes.list() }));
  routes.register(app);
  if (o.dashboard) registerDashboard(app);

  const unfollow = records.follow(manager, {
    log: (e) => hub.publish('log', e),
    state: (plugin, e) =>
      hub.publish('state', { plugin, ...e, info: manager.list().find((p) => p.name === plugin) }),
  });
  const loaded = () => {
    void rows(manager)
      .then((plugins) => hub.publish('plugins', { plugins }))
      .catch(() => {});
  };
  manager.on('loaded', loaded);
  manager.on('unloaded', loaded);
  manager.on('upgraded', loaded);
  series.start(manager, o.sampleInterval, (round) =>
    hub.publish('metrics', { time: Date.now(), samples: round }),
  );

  await app.ready();
  const servers: Server[] = [];
  let socket: string | undefined;
  let tokenFile: string | undefined;
  const cleanup = async () => {
    series.stop();
    unfollow();
    routes.dispose();
    manager.off('loaded', loaded);
    manager.off('unloaded', loaded);
    manager.off('upgraded', loaded);
    hub.close();
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await app.close().catch(() => {});
    if (socket) rmIfSocket(socket);
    if (tokenFile) rmQuiet(tokenFile);
  };
  try {
    if (o.socket) {
      await clearStaleSocket(o.socket);
      // The socket is born 0600: with the umask set for the bind itself there is no moment in
      // which another user could connect.
      const old = process.umask(0o177);
      try {
        app.server.listen(o.socket);
      } finally {
        process.umask(old);
      }
      await listening(app.server);
      chmodSync(o.socket, 0o600);
      socket = o.socket;
      servers.push(app.server);
    }
    if (o.port !== undefined) {
      token = newToken();
      const tcp = createServer((req, res) => {
        tcpRequests.add(req);
        handler(req, res);
      });
      tcp.listen(o.port, '127.0.0.1');
      await listening(tcp);
      servers.push(tcp);
      const addr = tcp.address();
      port = typeof addr === 'object' && addr ? addr.port : o.port;
      tokenFile =
        o.tokenFile ?? (socket ? `${socket}.token` : join(tmpdir(), `plugwire-${port}.token`));
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      chmodSync(tokenFile, 0o600);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    socket,
    url: o.port !== undefined ? `http://127.0.0.1:${port}` : undefined,
    token,
    tokenFile,
    app,
    close: () => {
      closed ??= cleanup();
      return closed;
    },
  };
}

function listening(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
}

/** Removes a socket left by a host that is gone; refuses when a host still answers on it. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) {
    throw new ControlError(
      409,
      ControlCodes.hostBusy,
      `${path} exists and is not a socket; not touching it (remove it, or give another control socket)`,
    );
  }
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) {
    throw new ControlError(
      409,
      ControlCodes.hostBusy,
      `another host is running with its control socket at ${path}; talk to it (plugwire list), or stop it first`,
    );
  }
  unlinkSync(path);
}

function rmIfSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // gone already
  }
}

function rmQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
