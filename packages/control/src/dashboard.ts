// The web dashboard: static files built by scripts/build-dashboard.mjs into dist/dashboard,
// read once at start and served from memory. Only the names in that folder are served, so a
// request path can never reach another file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

// Scripts and styles from this server only; uPlot sets element styles from script (allowed),
// its stylesheet is served here.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const DASHBOARD_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url));

export function registerDashboard(app: FastifyInstance, dir = DASHBOARD_DIR): void {
  const files = new Map<string, { type: string; data: Buffer }>();
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type) files.set(name, { type, data: readFileSync(join(dir, name)) });
    }
  }
  const serve = (name: string) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    const f = files.get(name);
    if (!f) {
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send(
          'the dashboard is not built: run `pnpm build` (it runs scripts/build-dashboard.mjs)\n',
        );
    }
    return reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .type(f.type)
      .send(f.data);
  };
  app.get('/', serve('index.html'));
  for (const name of files.keys())
    if (name !== 'index.html') app.get(`/assets/${name}`, serve(name));
}
