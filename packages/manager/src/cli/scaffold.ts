// `plugwire new <name>`: a TypeScript plugin folder that loads as it is (the manager compiles
// src/plugin.ts on load) and has a test that passes (`npm test`, in-process, no build).
//
// The @plugwire packages are not on the npm registry: the folder gets them as tarballs in
// `vendor/`, packed (`npm pack`) from the copies installed beside this manager, and its
// package.json depends on those files. So `npm install && npm test` works anywhere, with
// the same plugwire version as the manager that made it.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import pc from 'picocolors';
import { runTool } from '../cache.js';

/** What a plugin needs at run time: the SDK and what it depends on. */
const PLUGWIRE_PACKAGES = ['sdk', 'core', 'rpc', 'mux'] as const;

/** The folder of each @plugwire package a plugin needs, as installed beside this manager. */
function installedPackages(): Array<{ name: string; dir: string }> {
  const out: Array<{ name: string; dir: string }> = [];
  // Each package is found from the one that depends on it (core from the manager, rpc and
  // mux from core): the layout of node_modules (npm, pnpm) does not matter.
  let from = import.meta.url;
  for (const p of PLUGWIRE_PACKAGES) {
    const name = `@plugwire/${p}`;
    const dir = dirname(createRequire(from).resolve(`${name}/package.json`));
    out.push({ name, dir });
    if (p === 'core') from = join(dir, 'package.json');
  }
  return out;
}

/** Packs the plugwire packages into `<dir>/vendor`; returns `file:` specs by package name. */
async function vendor(dir: string): Promise<Record<string, string>> {
  const into = join(dir, 'vendor');
  await mkdir(into, { recursive: true });
  const deps: Record<string, string> = {};
  for (const { name, dir: pkg } of installedPackages()) {
    const out = await runTool(name, 'npm', ['pack', '--silent', '--pack-destination', into, pkg]);
    deps[name] = `file:vendor/${out.trim().split('\n').at(-1)}`;
  }
  return deps;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,213}$/;

/** `hello-world` → `helloWorld` / `HelloWorld`. */
function camel(name: string, upper: boolean): string {
  const parts = name.split(/[^a-z0-9]+/).filter(Boolean);
  const s = parts
    .map((p, i) => (i === 0 && !upper ? p : p[0]!.toUpperCase() + p.slice(1)))
    .join('');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

export function scaffoldFiles(
  name: string,
  plugwire: Record<string, string> = { '@plugwire/sdk': '^0.1.0' },
): Record<string, string> {
  const type = camel(name, true);
  const def = camel(name, false);
  const key = JSON.stringify(name);
  return {
    'package.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        description: `${name}: a plugwire plugin`,
        type: 'module',
        private: true,
        files: ['plugin.json', 'src', 'vendor'],
        scripts: {
          test: `node --import tsx --test test/${name}.test.ts`,
          typecheck: 'tsc --noEmit',
        },
        // The plugwire packages as tarballs in vendor/ (they are not on the npm registry).
        dependencies: plugwire,
        devDependencies: { '@types/node': '^20.19.0', tsx: '^4.23.0', typescript: '^7.0.2' },
      },
      null,
      2,
    )}\n`,
    'plugin.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        description: `${name}: a plugwire plugin`,
        entry: 'src/plugin.ts',
        protocolVersions: [1],
        plugins: { [name]: { methods: ['hello'] } },
        configSchema: {
          type: 'object',
          properties: { greeting: { type: 'string' } },
          additionalProperties: false,
        },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        include: ['src', 'test'],
      },
      null,
      2,
    )}\n`,
    'src/api.ts': `// The interface of the ${name} plugin: host and plugin both import it.
import { definePlugin } from '@plugwire/sdk';

export interface ${type} {
  /** A greeting for \`name\`. */
  hello(name: string): string;
}

export const ${def} = definePlugin<${type}>({ name: ${key}, methods: ['hello'] });
`,
    'src/impl.ts': `// What the plugin does, apart from how it is served (so the test can use it directly).
import type { ${type} } from './api.js';

/** The plugin's config, as the host's plugwire.config.json gives it (see configSchema). */
export interface Config {
  greeting?: string;
}

export class ${type}Plugin implements ${type} {
  greeting = 'Hello';

  configure(config: Config | null): void {
    if (config?.greeting) this.greeting = config.greeting;
  }

  hello(name: string): string {
    return \`\${this.greeting}, \${name}!\`;
  }
}
`,
    'src/plugin.ts': `// The plugin process: the host (plugwire run, or a PluginManager) starts it.
import { serve } from '@plugwire/sdk';
import { ${def} } from './api.js';
import { type Config, ${type}Plugin } from './impl.js';

const impl = new ${type}Plugin();

await serve({
  plugins: { ${key}: ${def}.implement(impl) },
  // The host's config for this plugin, before the first call.
  init: (config) => impl.configure(config as Config | null),
  // Start background work (timers, connections) here.
  start: () => {},
  // Flush and close here: quit from the host, SIGTERM, or the host gone.
  onShutdown: () => {},
});
`,
    [`test/${name}.test.ts`]: `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectInProcess } from '@plugwire/sdk';
import { ${def} } from '../src/api.js';
import { type Config, ${type}Plugin } from '../src/impl.js';

test('hello greets by name with the greeting from the config', async () => {
  const impl = new ${type}Plugin();
  const conn = connectInProcess({
    server: { plugins: { ${key}: ${def}.implement(impl) } },
    client: { plugins: { ${key}: ${def} } },
    init: (config) => impl.configure(config as Config),
    config: { greeting: 'Hi' },
  });
  try {
    const plugin = await conn.dispense(${def});
    assert.equal(await plugin.hello('Ada'), 'Hi, Ada!');
  } finally {
    await conn.close();
  }
});
`,
    'README.md': `# ${name}

A plugwire plugin.

- \`npm install\`, then \`npm test\`: the plugin's test, in process. The @plugwire packages
  come from \`vendor/\` (packed by \`plugwire new\` from the manager that made this folder;
  they are not on the npm registry): keep that folder, or point the dependencies at other
  tarballs.
- \`plugwire call ${name} hello '["Ada"]' --dir ..\`: load it from its parent folder and call it.
- \`plugwire run ..\`: run it (and its siblings) under the manager; edits reload it.
- \`plugwire pack .\`: a bundle with a sha256, for a host's config.
`,
  };
}

export async function scaffold(name: string, parent: string): Promise<number> {
  if (!NAME.test(name)) {
    throw new Error(
      `"${name}" is not a plugin name: use lower-case letters, digits, ".", "_" and "-"`,
    );
  }
  const dir = join(parent, name);
  if (existsSync(dir)) throw new Error(`${dir} already exists; choose another name or folder`);
  await mkdir(dir, { recursive: true });
  const files = scaffoldFiles(name, await vendor(dir));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const rel = relative(process.cwd(), dir) || '.';
  process.stdout.write(
    `${pc.green('created')} ${rel}/\n${Object.keys(files)
      .map((f) => `  ${f}`)
      .join(
        '\n',
      )}\n  vendor/ (the @plugwire packages, packed from this manager's)\n\nnext:\n  cd ${rel} && npm install && npm test\n  plugwire call ${name} hello '["Ada"]' --dir ${relative(process.cwd(), parent) || '.'}\n`,
  );
  return 0;
}
