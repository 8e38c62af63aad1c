// Helpers of the control-plane tests: plugin folders for the web fixture, requests over the
// control socket or TCP, and reading an event stream until an event arrives.
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Cleanup that runs after each test, failed or not, before the leak check: call it before
 * checkLeaks() (afterEach hooks run in the order they were registered; on Node 20 a test's
 * own t.after hooks run only after the file's afterEach hooks, too late for the leak check).
 */
export function cleanups(): (fn: () => unknown) => void {
  let fns: Array<() => unknown> = [];
  afterEach(async () => {
    const run = fns.reverse();
    fns = [];
    for (const fn of run) await fn();
  });
  return (fn) => {
    fns.push(fn);
  };
}

const webJs = fileURLToPath(new URL('./fixtures/control/web.mjs', import.meta.url));

/** A plugin folder `<parent>/<folder>` running the web fixture, with extra manifest fields. */
export function webFolder(
  parent: string,
  folder: string,
  manifest: Record<string, unknown> = {},
): string {
  const dir = join(parent, folder);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.mjs'), `import ${JSON.stringify(pathToFileURL(webJs).href)};\n`);
  writeFileSync(
    join(dir, 'plugin.json'),
    JSON.stringify(
      { name: folder, version: '1.0.0', entry: 'index.mjs', plugins: ['web'], ...manifest },
      null,
      2,
    ),
  );
  return dir;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
  bytes: Buffer;
}

/** Where to send requests: a unix socket, or host:port with optional headers. */
export type Target = { socket: string } | { port: number; headers?: Record<string, string> };

/** One HTTP request; `body` objects are sent as JSON, strings and Buffers as they are. */
export function http(
  target: Target,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const payload =
    body === undefined
      ? undefined
      : Buffer.isBuffer(body) || typeof body === 'string'
        ? Buffer.from(body)
        : Buffer.from(JSON.stringify(body));
  const isJson = body !== undefined && !Buffer.isBuffer(body) && typeof body !== 'string';
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...('socket' in target
          ? { socketPath: target.socket }
          : { host: '127.0.0.1', port: target.port }),
        method,
        path,
        headers: {
          ...('headers' in target ? target.headers : {}),
          ...(isJson ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          const text = bytes.toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, bytes });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** An open event stream; next() resolves with the first event (from now on) that fits. */
export function events(target: Target): {
  /** The first event of `kind` received so far or later that fits (it is consumed). */
  next(kind: string, fits?: (data: any) => boolean, ms?: number): Promise<any>;
  close(): void;
  opened: Promise<any>;
} {
  const seen: Array<{ kind: string; data: any }> = [];
  let wake: (() => void) | undefined;
  let openedResolve!: (v: any) => void;
  const opened = new Promise((r) => {
    openedResolve = r;
  });
  const req = request(
    {
      ...('socket' in target
        ? { socketPath: target.socket }
        : { host: '127.0.0.1', port: target.port }),
      path: '/api/events',
      headers: 'headers' in target ? target.headers : {},
      agent: false,
    },
    (res) => {
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const kind = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (!kind || !data) continue;
          if (kind === 'hello') openedResolve(JSON.parse(data));
          seen.push({ kind, data: JSON.parse(data) });
          wake?.();
        }
      });
      res.on('error', () => {});
    },
  );
  req.on('error', () => {});
  req.end();
  return {
    opened,
    async next(kind, fits = () => true, ms = 10_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        for (let i = 0; i < seen.length; i++) {
          const e = seen[i]!;
          if (e.kind === kind && fits(e.data)) {
            seen.splice(i, 1);
            return e.data;
          }
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no "${kind}" event within ${ms} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    },
    close() {
      req.destroy();
    },
  };
}
