// The host's options for one plugin: defaults in one place, and one function that checks
// them before anything starts, so a bad value fails at `new PluginClient()` naming the
// option, not later as a timer that fires at once or a checksum that covers another file.
import type { ConnectionOptions } from 'node:tls';
import type { SessionOptions } from '@plugwire/mux';
import { codecByName } from '@plugwire/rpc';
import type { ChecksumConfig } from './checksum.js';
import type { HandshakeConfig } from './handshake.js';
import type { LogRecord } from './logs.js';
import type { PluginSet } from './plugin.js';
import type { SpawnFunction } from './process.js';
import type { ReattachConfig } from './reattach.js';

/** Options of a PluginClient. Only the command (or `spawn`) is required. */
export interface PluginClientOptions {
  /** The plugin program. For a Node plugin: `process.execPath` with the script in `args`. */
  command?: string;
  /** Arguments of `command`. */
  args?: readonly string[];
  /**
   * Starts the process instead of `command`: called with the environment to give it; must
   * pipe stdout and stderr (and should pipe stdin: its EOF tells the plugin the host is gone).
   */
  spawn?: SpawnFunction;
  /** Cookie and protocol version; must match the plugin's. @default plugwire's cookie, version 1 */
  handshake?: HandshakeConfig;
  /** The plugins the host can dispense (for one protocol version). */
  plugins?: PluginSet;
  /** One plugin set per protocol version; the highest version the plugin also has is used. */
  versionedPlugins?: Record<number, PluginSet>;
  /** Extra environment variables for the plugin. */
  env?: Record<string, string | undefined>;
  /** Start the plugin with only `env` and plugwire's variables, not the host's environment. @default false */
  skipHostEnv?: boolean;
  /** Working directory of the plugin. @default the host's */
  cwd?: string;
  /**
   * Longest wait for the whole start: the handshake line, the connection (TLS, tcp token)
   * and the plugin's answer to `plugwire/init`. @default 60_000 (ms)
   */
  startTimeout?: number;
  /**
   * After asking the plugin to quit, how long to wait before SIGKILL. go-plugin hard-codes
   * 2 s; slow-stopping plugins (flushing state) may need more.
   * @default 2_000 (ms)
   */
  killGrace?: number;
  /** Where the plugin creates its socket directory (`PLUGIN_UNIX_SOCKET_DIR`). @default os.tmpdir() */
  unixSocketDir?: string;
  /** Group to own the plugin's socket (`PLUGIN_UNIX_SOCKET_GROUP`). */
  unixSocketGroup?: string;
  /** How the plugin listens. @default 'unix' ('tcp' on Windows) */
  network?: 'unix' | 'tcp';
  /**
   * Let a tcp plugin accept any local connection. By default the host gives the plugin a
   * secret for this start (`PLUGWIRE_AUTH_TOKEN`, readable only by the plugin's user) and
   * presents it as the first bytes of the connection, so another local user who connects
   * first does not get the plugin. Set this only for a plugin that does not implement the
   * token (docs/protocol.md), on a machine without other users.
   * @default false
   */
  insecureTcp?: boolean;
  /** Port range for tcp (`PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT`). @default any free port */
  minPort?: number;
  maxPort?: number;
  /** Codecs the host accepts, most preferred first. @default ['msgpack', 'json'] */
  codecs?: readonly string[];
  /** How long broker accepts and dials wait for the other side. @default 5_000 (ms) */
  brokerTimeout?: number;
  /**
   * Receives the plugin's stderr as log records (hclog JSON lines become structured
   * records). @default `debug` under `plugwire:plugin:<name>`
   */
  logger?: (record: LogRecord) => void;
  /** Each line the plugin prints to stdout (besides the handshake). @default `debug` */
  stdout?: (line: string) => void;
  /**
   * Each raw stderr line, before parsing. With a `logger` too, the hclog records go to the
   * logger only and this gets the other lines (also given to the logger as text), so that
   * no record is delivered twice.
   */
  stderr?: (line: string) => void;
  /** The plugin's name in logs and errors. @default the basename of the script or command */
  name?: string;
  /**
   * Kill this plugin from `cleanupClients()` and when the host exits or gets SIGINT or
   * SIGTERM (go-plugin's Managed).
   * @default true
   */
  managed?: boolean;
  /** Largest RPC message either way; set the same on the plugin. @default 64 MiB */
  maxMessageSize?: number;
  /** yamux session options (window size, keepalive…). */
  mux?: SessionOptions;
  /**
   * Configuration for the plugin, any value the codec carries: the plugin's `init` hook
   * (ServeOptions.init) receives it before the first dispense. Sent over the control
   * channel, never in the environment, so secrets do not show in the process table.
   */
  config?: unknown;
  /**
   * Refuse to start the plugin unless its file has this hash (checked before spawning, in
   * constant time). For a Node plugin it covers the entry script only, not what it imports:
   * bundle the plugin into one file for the hash to cover all of its code. With `spawn` the
   * host does not know what runs: set `checksum.file`, or it is refused. Refused with
   * `reattach` (a running plugin is not checked).
   */
  checksum?: ChecksumConfig;
  /**
   * Wrap the connection in TLS with your own certificates (node:tls options, e.g. `ca`,
   * `cert`, `key`); the plugin must serve with matching `ServeOptions.tls`.
   */
  tls?: ConnectionOptions;
  /**
   * Mutual TLS with certificates made for this one start (go-plugin's AutoMTLS): the host
   * passes its certificate in `PLUGIN_CLIENT_CERT`, the plugin answers with its own in the
   * handshake, and each side accepts only the other's. Protects the connection from other
   * processes of the same user.
   * @default false
   */
  autoMTLS?: boolean;
  /**
   * Start the plugin so that it outlives this host: it keeps running when the host goes
   * away, and `reattachConfig()` lets another host process connect to it. Implies
   * `managed: false`. Call `detach()` to let the host exit with the plugin running.
   * @default false
   */
  reattachable?: boolean;
  /**
   * Connect to a plugin that is already running (from `reattachConfig()` of this or
   * another host process) instead of starting one; `command` is then not needed. The pid
   * must be alive, the address must answer, and the plugin must confirm the pid and the
   * protocol version; a process that is not verified this way is never signalled. Cannot
   * be combined with `checksum` (a running plugin is not checked) or `reattachable`.
   */
  reattach?: ReattachConfig;
}

/** The defaults of PluginClientOptions; each option's TSDoc repeats its value. */
export const defaults = {
  startTimeout: 60_000,
  killGrace: 2_000,
  brokerTimeout: 5_000,
  codecs: ['msgpack', 'json'] as readonly string[],
  managed: true,
  insecureTcp: false,
} as const;

/**
 * How long a reattaching host waits for `plugwire/info`, the plugin's proof that it is the
 * process the record names. The plugin answers at once when it is ours; this only bounds a
 * wrong process at the address.
 */
export const REATTACH_INFO_TIMEOUT_MS = 5_000;

/** The options after defaults and checks. */
export interface ResolvedClientOptions {
  startTimeout: number;
  killGrace: number;
  brokerTimeout: number;
  codecs: readonly string[];
  managed: boolean;
  insecureTcp: boolean;
}

/**
 * Applies the defaults and checks every option the host reads. Throws TypeError (wrong
 * type, or options that cannot be combined) or RangeError (a value out of range), with the
 * option's name in the message.
 */
export function resolveClientOptions(o: PluginClientOptions): ResolvedClientOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError('PluginClient needs options');
  if (!o.command && !o.spawn && !o.reattach) {
    throw new TypeError('PluginClient needs a command, a spawn function or a reattach config');
  }
  optionalType(o, 'command', 'string');
  optionalType(o, 'spawn', 'function');
  optionalType(o, 'cwd', 'string');
  optionalType(o, 'name', 'string');
  optionalType(o, 'unixSocketDir', 'string');
  optionalType(o, 'unixSocketGroup', 'string');
  if (o.args !== undefined && !(Array.isArray(o.args) && o.args.every(isString))) {
    throw new TypeError('PluginClientOptions.args must be an array of strings');
  }
  if (o.network !== undefined && o.network !== 'unix' && o.network !== 'tcp') {
    throw new TypeError(
      `PluginClientOptions.network must be 'unix' or 'tcp', not ${show(o.network)}`,
    );
  }
  for (const port of ['minPort', 'maxPort'] as const) {
    const v = o[port];
    if (v === undefined) continue;
    if (typeof v !== 'number') throw new TypeError(`PluginClientOptions.${port} must be a number`);
    if (!Number.isInteger(v) || v < 1 || v > 65_535) {
      throw new RangeError(`PluginClientOptions.${port} must be a port number (1-65535), not ${v}`);
    }
  }
  if (o.minPort !== undefined && o.maxPort !== undefined && o.minPort > o.maxPort) {
    throw new RangeError(
      `PluginClientOptions.minPort (${o.minPort}) is above maxPort (${o.maxPort})`,
    );
  }
  if (o.maxMessageSize !== undefined) positive('maxMessageSize', o.maxMessageSize);
  const codecs = o.codecs ?? defaults.codecs;
  if (!Array.isArray(codecs) || codecs.length === 0 || !codecs.every(isString)) {
    throw new TypeError('PluginClientOptions.codecs must be a non-empty array of codec names');
  }
  for (const c of codecs) codecByName(c); // unknown codec names fail here, not at the handshake
  checkCombinations(o);
  return {
    startTimeout: positive('startTimeout', o.startTimeout ?? defaults.startTimeout),
    killGrace: nonNegative('killGrace', o.killGrace ?? defaults.killGrace),
    brokerTimeout: positive('brokerTimeout', o.brokerTimeout ?? defaults.brokerTimeout),
    codecs,
    managed: (o.managed ?? defaults.managed) && !o.reattachable,
    insecureTcp: o.insecureTcp ?? defaults.insecureTcp,
  };
}

/** Options that each work alone but not together (go-plugin's ErrSecureConfigAndReattach). */
function checkCombinations(o: PluginClientOptions): void {
  if (o.checksum) checkChecksum(o.checksum);
  if (o.reattach && o.checksum) {
    // A reattached plugin is already running: there is no file to check before it starts,
    // and a caller who set a checksum would believe it was verified.
    throw new TypeError(
      'PluginClientOptions.checksum cannot be combined with reattach: a running plugin is not checked',
    );
  }
  if (o.reattach && o.reattachable) {
    throw new TypeError(
      'PluginClientOptions.reattachable cannot be combined with reattach: it applies when the host starts the plugin',
    );
  }
  if (o.checksum && o.spawn && !o.checksum.file) {
    // With spawn the host does not know what runs: a checksum of `command` would cover a
    // file that is not started.
    throw new TypeError(
      o.command
        ? 'PluginClientOptions.checksum with both spawn and command would cover command while spawn runs: set checksum.file to the file spawn starts'
        : 'PluginClientOptions.checksum needs checksum.file when the plugin is started by spawn',
    );
  }
}

function checkChecksum(c: ChecksumConfig): void {
  if (typeof c !== 'object' || typeof c.hash !== 'string') {
    throw new TypeError('PluginClientOptions.checksum.hash must be a hex string');
  }
  if (c.file !== undefined && typeof c.file !== 'string') {
    throw new TypeError('PluginClientOptions.checksum.file must be a string');
  }
}

function positive(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`PluginClientOptions.${name} must be a number`);
  if (!Number.isFinite(v) || v <= 0 || v > MAX_TIMER_MS) {
    throw new RangeError(`PluginClientOptions.${name} must be above 0 and finite, not ${v}`);
  }
  return v;
}

function nonNegative(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`PluginClientOptions.${name} must be a number`);
  if (!Number.isFinite(v) || v < 0 || v > MAX_TIMER_MS) {
    throw new RangeError(`PluginClientOptions.${name} must be 0 or more and finite, not ${v}`);
  }
  return v;
}

/** setTimeout fires at once for delays above 2^31-1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function optionalType(o: PluginClientOptions, name: keyof PluginClientOptions, type: string): void {
  const v = o[name];
  if (v !== undefined && typeof v !== type) {
    throw new TypeError(`PluginClientOptions.${name} must be a ${type}, not ${show(v)}`);
  }
}

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

function show(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : typeof v;
}
