// plugin.json: what a plugin is, how to run it and what it serves. Validated field by field
// so that an error names the file and the field (`plugins/kv/plugin.json: "version" ...`).
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import semver from 'semver';
import { type Activation, parseActivation } from './activation.js';
import { ManifestError } from './errors.js';
import { parseRoutes, type RouteSet } from './routes.js';
import { type ManifestSandbox, parseSandbox } from './sandbox.js';

export const MANIFEST_FILE = 'plugin.json';

/**
 * Largest plugin.json read. Real manifests are a few KiB (a large configSchema tens); a
 * manifest from a package, repository or bundle must not make the host read gigabytes.
 */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** Someone responsible for the plugin. */
export interface Maintainer {
  name: string;
  email?: string;
  url?: string;
}

/** How to run the plugin. */
export type Entry =
  /** A JavaScript or TypeScript file run with Node (TypeScript is compiled on load). */
  | { kind: 'node'; file: string }
  /** Any program, in any language, that speaks the plugwire protocol. */
  | { kind: 'command'; command: string; args: string[] };

/** A validated plugin.json. */
export interface Manifest {
  /** Lower-case letters, digits, `.`, `_`, `-`; unique among the host's plugins. */
  name: string;
  /** A semver version (`1.4.0`, `2.0.0-beta.1`). */
  version: string;
  description: string | undefined;
  maintainers: Maintainer[];
  /** Home page (http or https URL). */
  home: string | undefined;
  entry: Entry;
  /** Application protocol versions the plugin serves. @default [1] */
  protocolVersions: number[];
  /** The plugin interfaces it serves (names it can be dispensed as), with their methods if declared. */
  plugins: Record<string, { methods: string[] | undefined }>;
  /** Where the plugin's code comes from (repository URL or source object), as the author says. */
  source: unknown;
  /** JSON Schema of the config the plugin accepts; the host's config is checked against it. */
  configSchema: Record<string, unknown> | undefined;
  /** HTTP routes it serves through the control plane (`routes`, `routePrefix`). */
  routes: RouteSet | undefined;
  /** When it starts and stops (`activation`, `idleTimeout`). @default { mode: 'eager' } */
  activation: Activation;
  /** Limits and environment it runs with (`sandbox`, @plugwire/sandbox). */
  sandbox: ManifestSandbox | undefined;
}

// npm's package name rules (a plugin is often published as one): at most 214 characters.
const NAME = /^[a-z0-9][a-z0-9._-]{0,213}$/;
// Interface names become keys of plain objects on both sides: no `__proto__`, `constructor`.
const INTERFACE = /^[A-Za-z_$][\w$.-]{0,127}$/;
const RESERVED = new Set([
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'then',
]);
const FILE_ENTRY = /\.(?:[cm]?js|[cm]?ts|tsx)$/;
const KNOWN = new Set([
  'name',
  'version',
  'description',
  'maintainers',
  'home',
  'entry',
  'protocolVersions',
  'plugins',
  'source',
  'configSchema',
  'routes',
  'routePrefix',
  'activation',
  'idleTimeout',
  'sandbox',
  '$schema',
]);

/** True for entry files that need compiling first. */
export function isTypeScript(file: string): boolean {
  return /\.(?:[cm]?ts|tsx)$/.test(file);
}

/** Reads and validates `<dir>/plugin.json`. */
export function readManifest(dir: string): Manifest {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_MANIFEST_BYTES) {
      throw new ManifestError(
        file,
        undefined,
        `is ${size} bytes, more than a manifest may be (${MAX_MANIFEST_BYTES})`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ManifestError(
      file,
      undefined,
      e.code === 'ENOENT'
        ? 'not found: every plugin directory needs a plugin.json (see docs/manager.md)'
        : `cannot be read: ${e.message}`,
      { cause: err },
    );
  }
  return parseManifest(text, file);
}

/** Parses and validates manifest text; `file` names it in errors. */
export function parseManifest(text: string, file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(file, undefined, `is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return validateManifest(raw, file);
}

/** Validates a parsed manifest. */
export function validateManifest(raw: unknown, file: string): Manifest {
  const fail = (field: string | undefined, problem: string): never => {
    throw new ManifestError(file, field, problem);
  };
  if (!isObject(raw)) return fail(undefined, 'must hold a JSON object');
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key) && !key.startsWith('x-')) {
      fail(
        key,
        `is not a manifest field (known: ${[...KNOWN].join(', ')}; put extensions under "x-…")`,
      );
    }
  }

  const name = raw.name;
  if (name === undefined) fail('name', 'is required');
  if (typeof name !== 'string' || !NAME.test(name)) {
    fail(
      'name',
      `must be lower-case letters, digits, ".", "_" or "-" (got ${JSON.stringify(name)})`,
    );
  }

  const version = raw.version;
  if (version === undefined) fail('version', 'is required');
  if (typeof version !== 'string' || semver.valid(version) === null) {
    fail('version', `must be a semver version such as "1.2.3" (got ${JSON.stringify(version)})`);
  }

  const description = optionalString(raw, 'description', fail);
  const home = optionalString(raw, 'home', fail);
  if (home !== undefined && !/^https?:\/\/\S+$/.test(home)) {
    fail('home', `must be an http(s) URL (got ${JSON.stringify(home)})`);
  }

  const maintainers: Maintainer[] = [];
  if (raw.maintainers !== undefined) {
    if (!Array.isArray(raw.maintainers)) fail('maintainers', 'must be an array');
    (raw.maintainers as unknown[]).forEach((m, i) => {
      maintainers.push(maintainer(m, `maintainers[${i}]`, fail));
    });
  }

  const entry = parseEntry(raw.entry, fail);

  let protocolVersions = [1];
  if (raw.protocolVersions !== undefined) {
    const pv = raw.protocolVersions;
    if (!Array.isArray(pv) || pv.length === 0) {
      fail('protocolVersions', 'must be a non-empty array of positive integers');
    }
    (pv as unknown[]).forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
        fail(`protocolVersions[${i}]`, `must be a positive integer (got ${JSON.stringify(v)})`);
      }
    });
    protocolVersions = [...new Set(pv as number[])].sort((a, b) => a - b);
  }

  const plugins: Manifest['plugins'] = {};
  const p = raw.plugins;
  if (p === undefined)
    fail('plugins', 'is required: the names of the plugin interfaces it serves, e.g. ["kv"]');
  if (Array.isArray(p)) {
    if (p.length === 0) fail('plugins', 'must name at least one plugin interface');
    p.forEach((n, i) => {
      if (typeof n !== 'string' || n === '') fail(`plugins[${i}]`, 'must be a non-empty string');
      checkInterface(n as string, `plugins[${i}]`, fail);
      plugins[n as string] = { methods: undefined };
    });
  } else if (isObject(p)) {
    const names = Object.keys(p);
    if (names.length === 0) fail('plugins', 'must name at least one plugin interface');
    for (const n of names) {
      checkInterface(n, `plugins.${n}`, fail);
      const spec = p[n];
      if (!isObject(spec)) fail(`plugins.${n}`, 'must be an object, e.g. { "methods": ["get"] }');
      const methods = (spec as Record<string, unknown>).methods;
      if (
        methods !== undefined &&
        (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string'))
      ) {
        fail(`plugins.${n}.methods`, 'must be an array of method names');
      }
      plugins[n] = { methods: methods as string[] | undefined };
    }
  } else {
    fail('plugins', 'must be an array of names or an object of { name: { methods } }');
  }

  const source = raw.source;
  if (source !== undefined && typeof source !== 'string' && !isObject(source)) {
    fail('source', 'must be a URL string or a source object ({ "git": URL, "ref": … })');
  }

  let configSchema: Record<string, unknown> | undefined;
  if (raw.configSchema !== undefined) {
    if (!isObject(raw.configSchema)) fail('configSchema', 'must be a JSON Schema object');
    configSchema = raw.configSchema as Record<string, unknown>;
    try {
      compileSchema(configSchema);
    } catch (err) {
      fail('configSchema', `is not a valid JSON Schema: ${(err as Error).message}`);
    }
  }

  const routes = parseRoutes(raw, name as string, Object.keys(plugins), fail);
  const activation = parseActivation(raw, fail);

  return {
    name: name as string,
    version: version as string,
    description,
    maintainers,
    home,
    entry,
    protocolVersions,
    plugins,
    source,
    configSchema,
    routes,
    activation,
    sandbox: parseSandbox(raw.sandbox, fail),
  };
}

function parseEntry(e: unknown, fail: (field: string, problem: string) => never): Entry {
  if (e === undefined) {
    return fail(
      'entry',
      'is required: a JS/TS file ("dist/plugin.js") or { "command": "bin/plugin" }',
    );
  }
  if (typeof e === 'string') {
    if (!FILE_ENTRY.test(e)) {
      fail(
        'entry',
        `"${e}" is not a .js/.mjs/.cjs/.ts/.mts file; for a program in another language write { "command": "${e}" }`,
      );
    }
    if (isAbsolute(e) || normalize(e).startsWith('..')) {
      fail('entry', `must be a path inside the plugin directory (got "${e}")`);
    }
    return { kind: 'node', file: e };
  }
  if (!isObject(e)) return fail('entry', 'must be a file path or { "command": …, "args": [...] }');
  if (typeof e.command !== 'string' || e.command === '') {
    fail('entry.command', 'must be a program: a path in the plugin directory, or a name on PATH');
  }
  const args = e.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    fail('entry.args', 'must be an array of strings');
  }
  for (const k of Object.keys(e)) {
    if (k !== 'command' && k !== 'args')
      fail(`entry.${k}`, 'is not an entry field (command, args)');
  }
  return { kind: 'command', command: e.command as string, args: args as string[] };
}

function checkInterface(
  name: string,
  field: string,
  fail: (field: string, problem: string) => never,
): void {
  if (!INTERFACE.test(name) || RESERVED.has(name)) {
    fail(
      field,
      `"${name}" is not an interface name (letters, digits, "_", "$", ".", "-"; not ${[...RESERVED].join(', ')})`,
    );
  }
}

function maintainer(
  m: unknown,
  field: string,
  fail: (field: string, problem: string) => never,
): Maintainer {
  if (typeof m === 'string') {
    // npm's "Name <email> (url)" shorthand
    const match = /^([^<(]+?)\s*(?:<([^>]+)>)?\s*(?:\(([^)]+)\))?$/.exec(m.trim());
    if (!match)
      return fail(field, `cannot be read as "Name <email> (url)" (got ${JSON.stringify(m)})`);
    return {
      name: match[1]!,
      ...(match[2] ? { email: match[2] } : {}),
      ...(match[3] ? { url: match[3] } : {}),
    };
  }
  if (!isObject(m) || typeof m.name !== 'string') {
    return fail(field, 'must be "Name <email>" or { "name", "email", "url" }');
  }
  for (const k of ['email', 'url'] as const) {
    if (m[k] !== undefined && typeof m[k] !== 'string') fail(`${field}.${k}`, 'must be a string');
  }
  return {
    name: m.name,
    ...(typeof m.email === 'string' ? { email: m.email } : {}),
    ...(typeof m.url === 'string' ? { url: m.url } : {}),
  };
}

function optionalString(
  raw: Record<string, unknown>,
  key: string,
  fail: (field: string, problem: string) => never,
): string | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(key, `must be a string (got ${JSON.stringify(v)})`);
  return v as string;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

/** Compiles a config schema once (throws on an invalid schema). */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/**
 * Checks a plugin's config against its manifest's configSchema; returns the problems as one
 * sentence, or undefined when it fits.
 */
export function checkConfig(manifest: Manifest, config: unknown): string | undefined {
  if (!manifest.configSchema) return undefined;
  const validate = compileSchema(manifest.configSchema);
  if (validate(config ?? null)) return undefined;
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || '(the config)'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}
