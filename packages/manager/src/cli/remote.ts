// The CLI's side of a running host: finds its control socket (flag, PLUGWIRE_HOST, or the
// socket next to the plugins folder) and talks HTTP/JSON to it. A few lines of node:http and
// no dependency on @plugwire/control, which serves the other side (layers: control depends
// on manager, never the reverse; see docs/architecture.md).
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { PlugwireError } from '@plugwire/core';
import { CONTROL_HOST_ENV, CONTROL_TOKEN_ENV, controlSocketPath } from '../host.js';

/** A running host could not be reached, or answered with an error. */
export class HostError extends PlugwireError {
  /** The HTTP status of the host's answer (undefined when there was none). */
  readonly status: number | undefined;
  constructor(code: string, message: string, status?: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

// Bounds of what the CLI accepts from a host: a listing or a call result is never this big,
// and a host that stops answering must not hang a terminal forever.
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 120_000;

/** Where a host was found, and how. */
export interface HostAddress {
  /** Unix socket path, or `http://127.0.0.1:PORT`. */
  target: string;
  /** `--host`, `PLUGWIRE_HOST`, or `the socket next to <dir>`. */
  how: string;
  token: string | undefined;
}

export class HostClient {
  readonly address: HostAddress;
  constructor(address: HostAddress) {
    this.address = address;
  }

  /** One request; resolves with the parsed JSON answer, throws HostError for error answers. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const { status, text } = await this.#raw(method, path, body);
    let json: unknown;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      throw new HostError(
        'PLUGWIRE_HOST_BAD_RESPONSE',
        `the host at ${this.address.target} answered ${status} with something that is not JSON`,
        status,
      );
    }
    if (status >= 400) {
      const e = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      throw new HostError(
        typeof e?.code === 'string' ? e.code : 'PLUGWIRE_HOST_ERROR',
        typeof e?.message === 'string' ? e.message : `the host answered ${status}`,
        status,
      );
    }
    return json as T;
  }

  #raw(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const t = this.address.target;
    const tcp = t.startsWith('http://') ? new URL(t) : undefined;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...(tcp ? { host: tcp.hostname, port: tcp.port } : { socketPath: t }),
          path,
          method,
          headers: {
            ...(tcp ? { host: tcp.host } : {}),
            ...(payload ? { 'content-type': 'application/json' } : {}),
            ...(this.address.token ? { authorization: `Bearer ${this.address.token}` } : {}),
          },
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(
                new HostError(
                  'PLUGWIRE_HOST_BAD_RESPONSE',
                  `the host's answer is larger than ${MAX_RESPONSE_BYTES} bytes`,
                ),
              );
              return;
            }
            chunks.push(c);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(
          new HostError(
            'PLUGWIRE_HOST_TIMEOUT',
            `the host at ${t} did not answer within ${REQUEST_TIMEOUT_MS} ms`,
          ),
        ),
      );
      req.on('error', (err) =>
        reject(
          err instanceof HostError
            ? err
            : new HostError(
                'PLUGWIRE_HOST_UNREACHABLE',
                `cannot reach the host at ${t} (${this.address.how}): ${err.message}`,
                undefined,
                { cause: err },
              ),
        ),
      );
      req.end(payload);
    });
  }

  /** Follows the host's event stream; `on` gets each event; resolves when the stream ends. */
  events(on: (kind: string, data: unknown) => void, signal?: AbortSignal): Promise<void> {
    const t = this.address.target;
    const tcp = t.startsWith('http://') ? new URL(t) : undefined;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...(tcp ? { host: tcp.hostname, port: tcp.port } : { socketPath: t }),
          path: '/api/events',
          headers: {
            ...(tcp ? { host: tcp.host } : {}),
            ...(this.address.token ? { authorization: `Bearer ${this.address.token}` } : {}),
          },
          signal,
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new HostError('PLUGWIRE_HOST_ERROR', `the host answered ${res.statusCode}`));
            return;
          }
          res.setEncoding('utf8');
          let buf = '';
          res.on('data', (chunk: string) => {
            buf += chunk;
            for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
              const frame = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const kind = /^event: (.*)$/m.exec(frame)?.[1];
              const data = /^data: (.*)$/m.exec(frame)?.[1];
              if (kind && data) on(kind, JSON.parse(data));
            }
            if (buf.length > MAX_RESPONSE_BYTES) req.destroy();
          });
          res.on('end', () => resolve());
          res.on('error', () => resolve());
        },
      );
      req.on('error', (err) => (signal?.aborted ? resolve() : reject(err)));
      req.end();
    });
  }
}

/** What the CLI knows about where a host may run. */
export interface HostLookup {
  /** `--host`: a socket path or `http://127.0.0.1:PORT`. */
  flag: string | undefined;
  /** The plugin directories of this command (the first one's socket is looked for). */
  dirs: readonly string[];
}

/**
 * The host to talk to: the flag, else PLUGWIRE_HOST, else a live socket next to the first
 * plugin directory. A flag or variable that names nothing reachable is an error (the user
 * asked for that host); no socket next to the folder means no host runs there (undefined).
 */
export function findHost(l: HostLookup): HostAddress | { none: string } {
  const named = l.flag ?? process.env[CONTROL_HOST_ENV];
  if (named) {
    const how = l.flag ? '--host' : CONTROL_HOST_ENV;
    return { target: named, how, token: tokenFor(named) };
  }
  const dir = l.dirs[0];
  if (!dir) return { none: 'no plugin directory to look for a host socket next to' };
  const sock = controlSocketPath(dir);
  let isSocket = false;
  try {
    isSocket = existsSync(sock) && lstatSync(sock).isSocket();
  } catch {
    // unreadable: as if absent
  }
  if (!isSocket) return { none: `no host socket at ${sock}` };
  return { target: sock, how: `the socket next to ${dir}`, token: undefined };
}

/** The bearer token for a TCP host: PLUGWIRE_TOKEN, or PLUGWIRE_TOKEN_FILE's content. */
function tokenFor(target: string): string | undefined {
  if (!target.startsWith('http://')) return undefined;
  const env = process.env[CONTROL_TOKEN_ENV];
  if (env) return env;
  const file = process.env[`${CONTROL_TOKEN_ENV}_FILE`];
  if (file) return readFileSync(file, 'utf8').trim();
  return undefined;
}
