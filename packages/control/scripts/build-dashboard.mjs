#!/usr/bin/env node
// Builds the web dashboard into dist/dashboard: src/dashboard/app.ts bundled with uPlot by
// esbuild (one ES module, minified), the HTML, the stylesheet and uPlot's stylesheet. No
// CDN: everything the page loads is served by the control server itself, so it works offline.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const src = join(pkg, 'src', 'dashboard');
const out = join(pkg, 'dist', 'dashboard');
const require = createRequire(join(pkg, 'package.json'));

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(src, 'app.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
for (const f of ['style.css', 'favicon.svg']) copyFileSync(join(src, f), join(out, f));
copyFileSync(
  join(dirname(require.resolve('uplot/dist/uPlot.min.css')), 'uPlot.min.css'),
  join(out, 'uPlot.min.css'),
);
