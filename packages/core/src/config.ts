// The host's options for one plugin: defaults in one place, and one function that checks
// them before anything starts, so a bad value fails at `new PluginClient()` naming the
// option, not later as a timer that fires at once or a checksum that covers another file.
import { codecByName } from '@plugwire/rpc';
import type { ChecksumConfig } from './checksum.js';
import type { PluginClientOptions } from './client.js';

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
