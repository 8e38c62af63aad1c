// The process-level protocol in one place: what a plugin in any language must match.
// Names follow go-plugin wherever go-plugin has one (docs/protocol.md lists them all).

/** plugwire's own core protocol version: the first field of the handshake line. */
export const CORE_PROTOCOL_VERSION = 1;

/** Environment variables the host sets for the plugin. */
export const Env = {
  /** Comma-separated application protocol versions the host supports (go-plugin's name). */
  ProtocolVersions: 'PLUGIN_PROTOCOL_VERSIONS',
  /** Directory in which the plugin creates its socket directory (go-plugin's name). */
  UnixSocketDir: 'PLUGIN_UNIX_SOCKET_DIR',
  /** Group that should own the socket, instead of the plugin user's (go-plugin's name). */
  UnixSocketGroup: 'PLUGIN_UNIX_SOCKET_GROUP',
  /** Port range for a tcp listener (go-plugin's names). */
  MinPort: 'PLUGIN_MIN_PORT',
  MaxPort: 'PLUGIN_MAX_PORT',
  /** Codecs the host accepts, in order of preference: `msgpack,json`. */
  Codecs: 'PLUGWIRE_CODECS',
  /** `unix` (default; tcp on Windows) or `tcp`: how the plugin should listen. */
  Network: 'PLUGWIRE_NETWORK',
  /** AutoMTLS: the host's one-off certificate, PEM (go-plugin's name). */
  ClientCert: 'PLUGIN_CLIENT_CERT',
  /** `1`: keep running when the host goes away, and accept a new host (reattach). */
  Reattachable: 'PLUGWIRE_REATTACHABLE',
  /**
   * tcp authentication: 64 lowercase hex characters, new for each start. The host sends
   * them as the first bytes of a tcp connection; the plugin answers TCP_AUTH_ACK or closes.
   */
  AuthToken: 'PLUGWIRE_AUTH_TOKEN',
} as const;

/** Length of the tcp authentication token, in characters (32 random bytes, hex). */
export const AUTH_TOKEN_LENGTH = 64;

/**
 * The one byte a plugin answers an accepted token with. The host sends nothing more until
 * it arrives, so no TLS or yamux bytes are ever read together with the token.
 */
export const TCP_AUTH_ACK = 0x06;

/** The cookie a plugwire host sets when its handshake config names none. */
export const DEFAULT_MAGIC_COOKIE = {
  key: 'PLUGWIRE_MAGIC_COOKIE',
  value: 'b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41',
} as const;

/** The RPC protocol named in the handshake line's fifth field, before `+codec`. */
export const RPC_PROTOCOL = 'jsonrpc';

/** Methods of the control stream (the first stream the host opens). */
export const ControlMethod = {
  /** `{}` → `{}`: the plugin is alive and serving. */
  Ping: 'plugwire/ping',
  /** `{ name }` → `{ id }`: serve plugin `name` on broker id `id`; the host dials it. */
  Dispense: 'plugwire/dispense',
  /** `{}` → `{}`: the plugin answers, then shuts down and exits 0. */
  Quit: 'plugwire/quit',
  /** `{}` → `{ pid, protocolVersion, codec, plugins, methods }`: what the plugin serves. */
  Info: 'plugwire/info',
  /**
   * `{ config }` → `{}`: the host's configuration for this plugin, sent once right after
   * connecting and before any dispense; the plugin's init hook runs before it answers. A
   * plugin without init may answer -32601; the host then goes on.
   */
  Init: 'plugwire/init',
} as const;

/** JSON-RPC error codes of core conditions (implementation-defined range, see rpc's ErrorCodes). */
export const CoreErrorCode = {
  PluginExited: -32005,
  UnknownPlugin: -32010,
} as const;
