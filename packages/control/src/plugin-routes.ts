// Plugin HTTP routes (szlabs/go-plugin's http_services): requests under /routes/<prefix>/…
// go to the plugin method the manifest names, as one request object; its answer becomes the
// HTTP response. The table follows loads, upgrades and unloads of plugins.
import { Readable } from 'node:stream';
import type { PluginManager, Route } from '@plugwire/manager';
import { definePlugin, type PluginDefinition } from '@plugwire/sdk';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { withTimeout } from './api.js';
import { ControlCodes, ControlError, toHttpError } from './errors.js';
import { toBytes, toJsonText } from './values.js';

/** Where plugin routes are mounted on the control server. */
export const ROUTES_MOUNT = '/routes';

/** What a route's handler receives (its only argument). */
export interface RouteRequest {
  /** `GET`, `POST`, … */
  method: string;
  /** The path under the plugin's prefix (`/api/sample/42`). */
  path: string;
  /** The route as declared (`/api/sample/:id`). */
  route: string;
  /** Path parameters (`{ id: "42" }`), URL-decoded. */
  params: Record<string, string>;
  /** Query parameters; a repeated one is an array. */
  query: Record<string, string | string[]>;
  /** Request headers, lower case, without credentials (authorization, cookie). */
  headers: Record<string, string>;
  /** JSON bodies parsed, text bodies as a string, other bodies as bytes, no body as null. */
  body: unknown;
  /** The route's label from the manifest, if any. */
  label: string | null;
}

/**
 * What a handler returns (any other value is sent as JSON with status 200; a byte stream —
 * a Node Readable as the whole answer — is streamed with the route's contentType).
 */
export interface RouteResponse {
  /** @default 200 */
  status?: number;
  headers?: Record<string, string>;
  /** Sent as application/json. */
  json?: unknown;
  /** Sent as it is: bytes, or a string (text/plain unless contentType says otherwise). */
  body?: Uint8Array | string;
  contentType?: string;
}

interface Entry {
  plugin: string;
  route: Route;
  segments: string[];
}

// Headers a handler may not set: they belong to the connection or to the server's framing.
const HOP_BY_HOP = new Set([
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'trailer',
  'te',
  'proxy-authenticate',
  'proxy-authorization',
  'set-cookie',
]);
const MAX_RESPONSE_HEADERS = 64;

export class PluginRoutes {
  readonly #manager: PluginManager;
  readonly #timeout: number;
  #table: Entry[] | undefined;
  // One client definition per interface and method, made on first use: the sdk's client
  // turns a byte-stream answer into a Readable and carries cancellation to the plugin.
  readonly #defs = new Map<
    string,
    PluginDefinition<Record<string, (...a: unknown[]) => unknown>>
  >();

  constructor(manager: PluginManager, timeout: number) {
    this.#manager = manager;
    this.#timeout = timeout;
    manager.on('loaded', this.#stale);
    manager.on('unloaded', this.#stale);
    manager.on('upgraded', this.#stale);
  }

  readonly #stale = () => {
    this.#table = undefined;
  };

  /** Stops following the manager (the server closes). */
  dispose(): void {
    this.#manager.off('loaded', this.#stale);
    this.#manager.off('unloaded', this.#stale);
    this.#manager.off('upgraded', this.#stale);
  }

  /** Every route being served, for the API and the dashboard. */
  list(): Array<{
    plugin: string;
    method: string;
    path: string;
    handler: string;
    label: string | undefined;
  }> {
    return this.#entries().map((e) => ({
      plugin: e.plugin,
      method: e.route.method,
      path: `${ROUTES_MOUNT}/${e.segments.join('/')}`,
      handler: e.route.handler,
      label: e.route.label,
    }));
  }

  register(app: FastifyInstance): void {
    const handle = (req: FastifyRequest, reply: FastifyReply) => this.#handle(req, reply);
    app.all(ROUTES_MOUNT, handle);
    app.all(`${ROUTES_MOUNT}/*`, handle);
  }

  #def(iface: string, method: string) {
    const key = `${iface}\0${method}`;
    let d = this.#defs.get(key);
    if (!d) {
      d = definePlugin<Record<string, (...a: unknown[]) => unknown>>({
        name: iface,
        methods: [method],
      });
      this.#defs.set(key, d);
    }
    return d;
  }

  #entries(): Entry[] {
    if (!this.#table) {
      const t: Entry[] = [];
      for (const info of this.#manager.list()) {
        const set = this.#manager.manifest(info.name).routes;
        if (!set) continue;
        for (const route of set.routes) {
          t.push({ plugin: info.name, route, segments: split(set.prefix + route.path) });
        }
      }
      this.#table = t;
    }
    return this.#table;
  }

  async #handle(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const url = new URL(req.url, 'http://control');
    let segments: string[];
    try {
      segments = split(url.pathname.slice(ROUTES_MOUNT.length)).map((s) => decodeURIComponent(s));
    } catch {
      throw new ControlError(400, ControlCodes.badRequest, 'the path is not valid URL encoding');
    }
    let pathMatched = false;
    let hit: { e: Entry; params: Record<string, string> } | undefined;
    for (const e of this.#entries()) {
      const params = match(e.segments, segments);
      if (!params) continue;
      pathMatched = true;
      if (e.route.method === req.method || (req.method === 'HEAD' && e.route.method === 'GET')) {
        hit = { e, params };
        break;
      }
    }
    if (!hit) {
      throw pathMatched
        ? new ControlError(
            405,
            ControlCodes.badRequest,
            `${req.method} is not a method of this route`,
          )
        : new ControlError(
            404,
            'PLUGWIRE_ROUTE_NOT_FOUND',
            `no plugin route serves ${req.method} ${url.pathname}`,
          );
    }
    const { e, params } = hit;
    const prefixLen = split(this.#manager.manifest(e.plugin).routes?.prefix ?? '').length;
    const request: RouteRequest = {
      method: req.method,
      path: `/${segments.slice(prefixLen).join('/')}`,
      route: e.route.path,
      params,
      query: query(url.searchParams),
      headers: headers(req),
      body: requestBody(req),
      label: e.route.label ?? null,
    };
    const dot = e.route.handler.indexOf('.');
    const iface =
      dot > 0
        ? e.route.handler.slice(0, dot)
        : Object.keys(this.#manager.manifest(e.plugin).plugins)[0]!;
    const method = dot > 0 ? e.route.handler.slice(dot + 1) : e.route.handler;
    // Aborted when the handler takes too long or the client goes away: the sdk then cancels
    // the call in the plugin ($/cancelRequest) rather than leaving it running.
    const abort = new AbortController();
    const gone = () => {
      if (!reply.raw.writableFinished) abort.abort();
    };
    reply.raw.once('close', gone);
    let result: unknown;
    try {
      const handle = await this.#manager.dispense(e.plugin, this.#def(iface, method));
      result = await withTimeout(
        handle[method]!(request, { signal: abort.signal }),
        this.#timeout,
        `route ${req.method} ${url.pathname}`,
      );
    } catch (err) {
      abort.abort();
      reply.raw.off('close', gone);
      return sendError(reply, err);
    }
    if (result instanceof Readable) {
      return sendStream(reply, result, e.route.contentType, this.#timeout, gone);
    }
    reply.raw.off('close', gone);
    if (result && typeof result === 'object' && Symbol.asyncIterator in result) {
      // An object stream (items, not bytes) has no HTTP form; stop it at once.
      (result as { return?: () => unknown }).return?.();
      throw new ControlError(
        502,
        ControlCodes.routeBadResponse,
        "the route handler's answer is an object stream; answer a byte stream (a Readable not in object mode) or a value",
      );
    }
    return send(reply, result);
  }
}

/**
 * An error as the route's answer. A handler's own error (a RemoteError: it has `rpcCode`)
 * gives its code and, in `data.status`, its status; everything else maps as in the API.
 */
function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = err as {
    rpcCode?: unknown;
    code?: unknown;
    data?: { status?: unknown };
    message?: string;
  };
  if (typeof e?.rpcCode === 'number' && e.rpcCode !== -32601) {
    const s = e.data?.status;
    const status = typeof s === 'number' && Number.isInteger(s) && s >= 400 && s <= 599 ? s : 500;
    const code = typeof e.code === 'string' ? e.code : ControlCodes.routeFailed;
    return reply
      .code(status)
      .type('application/json; charset=utf-8')
      .send(
        JSON.stringify({ error: { code, message: String(e.message ?? 'the handler failed') } }),
      );
  }
  const { status, body } = toHttpError(err);
  return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(body));
}

/**
 * A byte-stream answer, piped to the client. A stream that sends nothing for `stall` ms is
 * cut (the response ends short), so a plugin cannot hold a connection open forever.
 */
function sendStream(
  reply: FastifyReply,
  stream: Readable,
  contentType: string | undefined,
  stall: number,
  gone: () => void,
): FastifyReply {
  let timer = setTimeout(() => stream.destroy(), stall);
  stream.on('data', () => {
    clearTimeout(timer);
    timer = setTimeout(() => stream.destroy(), stall);
  });
  const done = () => {
    clearTimeout(timer);
    reply.raw.off('close', gone);
  };
  stream.once('close', done);
  // The client went away: stop reading from the plugin.
  reply.raw.once('close', () => {
    if (!stream.destroyed) stream.destroy();
  });
  stream.on('error', () => {});
  return reply
    .code(200)
    .type(contentType ?? 'application/octet-stream')
    .send(stream);
}

function split(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function match(pattern: string[], path: string[]): Record<string, string> | undefined {
  if (pattern.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith(':')) params[p.slice(1)] = path[i]!;
    else if (p !== path[i]) return undefined;
  }
  return params;
}

function query(sp: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of sp) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return { ...out };
}

function headers(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k === 'authorization' || k === 'cookie' || v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function requestBody(req: FastifyRequest): unknown {
  const b = req.body;
  if (b === undefined || b === null) return null;
  if (Buffer.isBuffer(b)) {
    if (b.length === 0) return null;
    const type = String(req.headers['content-type'] ?? '');
    if (/^text\//.test(type)) return b.toString('utf8');
    return new Uint8Array(b);
  }
  return b; // parsed JSON
}

function isResponseShape(v: unknown): v is RouteResponse {
  if (!v || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return false;
  const keys = Object.keys(v);
  return (
    keys.length > 0 &&
    keys.every((k) => ['status', 'headers', 'json', 'body', 'contentType'].includes(k))
  );
}

function send(reply: FastifyReply, result: unknown): FastifyReply {
  const bad = (why: string) =>
    new ControlError(
      502,
      ControlCodes.routeBadResponse,
      `the route handler's answer is not a response: ${why}`,
    );
  if (!isResponseShape(result)) {
    return reply.code(200).type('application/json; charset=utf-8').send(toJsonText(result));
  }
  const status = result.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 599)
    throw bad('"status" must be an integer 200..599');
  if (result.headers !== undefined) {
    if (typeof result.headers !== 'object' || result.headers === null)
      throw bad('"headers" must be an object');
    const entries = Object.entries(result.headers);
    if (entries.length > MAX_RESPONSE_HEADERS)
      throw bad(`more than ${MAX_RESPONSE_HEADERS} headers`);
    for (const [k, v] of entries) {
      if (typeof v !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || /[\r\n\0]/.test(v)) {
        throw bad(
          `header ${JSON.stringify(k)} must be a token name with a string value without CR/LF`,
        );
      }
    }
    // Set only once all are valid: a refused answer must not leave some of its headers behind.
    for (const [k, v] of entries)
      if (!HOP_BY_HOP.has(k.toLowerCase())) reply.header(k, v as string);
  }
  reply.code(status);
  if (result.json !== undefined && result.body !== undefined)
    throw bad('give "json" or "body", not both');
  if (result.body !== undefined) {
    const bytes = toBytes(result.body);
    if (!bytes) throw bad('"body" must be bytes or a string');
    const type =
      typeof result.contentType === 'string' && !/[\r\n]/.test(result.contentType)
        ? result.contentType
        : typeof result.body === 'string'
          ? 'text/plain; charset=utf-8'
          : 'application/octet-stream';
    return reply.type(type).send(bytes);
  }
  return reply.type('application/json; charset=utf-8').send(toJsonText(result.json ?? null));
}
