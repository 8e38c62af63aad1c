// What the host gives the plugin process before it runs: its environment (the protocol's
// variables, docs/protocol.md §1) and the file a checksum covers.
import { type ChecksumConfig, checksumTarget } from './checksum.js';
import type { PluginClientOptions } from './config.js';
import { DEFAULT_MAGIC_COOKIE, Env } from './constants.js';

/** The per-start values that go into the plugin's environment besides the options. */
export interface StartValues {
  /** Application protocol versions the host offers, most preferred first. */
  versions: readonly number[];
  codecs: readonly string[];
  /** The directory the host made for the plugin's unix socket. */
  socketDir?: string | undefined;
  /** AutoMTLS: the host's one-off certificate, PEM. */
  clientCert?: string | undefined;
  /** tcp authentication token (none with insecureTcp). */
  token?: string | undefined;
}

/**
 * The plugin's environment: the host's own (unless `skipHostEnv`), then `env` (an
 * undefined value removes a variable), then plugwire's variables, which nothing overrides.
 */
export function pluginEnvironment(o: PluginClientOptions, v: StartValues): NodeJS.ProcessEnv {
  const cookie = o.handshake ?? {};
  const env: NodeJS.ProcessEnv = { ...(o.skipHostEnv ? {} : process.env) };
  for (const [k, value] of Object.entries(o.env ?? {})) {
    if (value === undefined) delete env[k];
    else env[k] = value;
  }
  // A token of the host's own environment (a host that is itself a plugin) is not this one's.
  delete env[Env.AuthToken];
  env[cookie.magicCookieKey ?? DEFAULT_MAGIC_COOKIE.key] =
    cookie.magicCookieValue ?? DEFAULT_MAGIC_COOKIE.value;
  env[Env.ProtocolVersions] = v.versions.join(',');
  if (v.clientCert) env[Env.ClientCert] = v.clientCert;
  if (o.reattachable) env[Env.Reattachable] = '1';
  env[Env.Codecs] = v.codecs.join(',');
  if (v.socketDir) env[Env.UnixSocketDir] = v.socketDir;
  else if (o.unixSocketDir) env[Env.UnixSocketDir] = o.unixSocketDir;
  if (o.unixSocketGroup) env[Env.UnixSocketGroup] = o.unixSocketGroup;
  if (o.network) env[Env.Network] = o.network;
  if (o.minPort !== undefined) env[Env.MinPort] = String(o.minPort);
  if (o.maxPort !== undefined) env[Env.MaxPort] = String(o.maxPort);
  if (v.token) env[Env.AuthToken] = v.token;
  return env;
}

/**
 * The file a checksum covers: `checksum.file`, else the script of `node script.js`, else
 * the command. config.ts has already refused the cases where that is not what runs.
 */
export function checksumFile(o: PluginClientOptions, c: ChecksumConfig): string {
  if (!c.file && !o.command) {
    throw new TypeError('checksum.file is needed when the plugin is started by spawn()');
  }
  // The file a checksum covers is the script Node runs (every code-loading flag refused),
  // else the command itself: see checksumTarget.
  return checksumTarget({
    command: o.command ?? '',
    args: o.args ?? [],
    cwd: o.cwd,
    env: o.env,
    file: c.file,
  });
}
