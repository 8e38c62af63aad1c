import { timingSafeEqual } from 'node:crypto';
import { fstatSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createSecureContext, TLSSocket, type TlsOptions } from 'node:tls';
import type { Session, SessionOptions } from '@plugwire/mux';
import { codecByName } from '@plugwire/rpc';
import { defaults } from './config.js';
import { servePluginConnection } from './connection.js';
import { CORE_PROTOCOL_VERSION, DEFAULT_MAGIC_COOKIE, Env, TCP_AUTH_ACK } from './constants.js';
import {
  formatHandshake,
  type HandshakeConfig,
  negotiateCodec,
  negotiateVersion,
  parseVersionList,
} from './handshake.js';
import { type HostWatch, watchHost } from './hostwatch.js';
import { createLogger, type Logger } from './logs.js';
import { type PluginSet, pluginSets } from './plugin.js';
import { type Listener, listen } from './socket.js';
import {
  certToBase64Der,
  generateIdentity,
  pluginTlsOptions,
  presentedCertificateIs,
} from './tls.js';

/** Options of serve(). */
export interface ServeOptions {
  /** Cookie and protocol version; must match the host's. @default plugwire's cookie, version 1 */
  handshake?: HandshakeConfig;
  /** The plugins this process serves (for one protocol version). */
  plugins?: PluginSet;
  /** One plugin set per protocol version; the highest version the host offers is served. */
  versionedPlugins?: Record<number, PluginSet>;
  /** Codecs this plugin speaks. @default ['msgpack', 'json'] */
  codecs?: readonly string[];
  /** serve()'s own messages, in hclog JSON on stderr. @default createLogger({ name: 'plugwire' }) */
  logger?: Logger;
  /**
   * Runs once with the host's `config` (PluginClientOptions.config, null when none) after
   * the host connected and before it dispenses any plugin. A throw fails the host's start.
   */
  init?: (config: unknown) => void | Promise<void>;
  /**
   * Runs once right after `init` succeeded, still before the host's start() resolves: begin
   * background work here (timers, connections) that should run only once configured. A
   * throw fails the host's start. Its counterpart on the way out is `onShutdown`.
   */
  start?: () => void | Promise<void>;
  /**
   * Runs before the process exits (quit from the host, SIGTERM, host gone). Bounded by the
   * host's kill grace: after it the host sends SIGKILL.
   */
  onShutdown?: () => void | Promise<void>;
  /** Include handler error stacks in error responses. @default false */
  exposeStack?: boolean;
  /** Largest RPC message either way; set the same on the host. @default 64 MiB */
  maxMessageSize?: number;
  /** How long broker accepts and dials wait for the other side. @default 5_000 (ms) */
  brokerTimeout?: number;
  /** yamux session options. */
  mux?: SessionOptions;
  /**
   * Serve over TLS with your own certificates (node:tls server options; set `requestCert`
   * and `ca` to require a client certificate). The host needs matching
   * `PluginClientOptions.tls`. Not needed for AutoMTLS, which the host turns on by itself.
   */
  tls?: TlsOptions;
  /**
   * Exit the process when serving ends (quit, SIGTERM, host gone). Off only for tests
   * that run serve() inside another process.
   * @default true
   */
  exit?: boolean;
}

/** A running plugin server. */
export interface PluginServer {
  /** The negotiated application protocol version. */
  readonly protocolVersion: number;
  /** The negotiated codec. */
  readonly codec: string;
  /** `unix` socket path or `127.0.0.1:port`. */
  readonly address: string;
  /** Stops serving (and exits the process unless `exit: false`). */
  stop(): Promise<void>;
  /** Resolves when serving has ended. */
  readonly done: Promise<void>;
}

const COOKIE_MESSAGE =
  'This program is a plugin. It is not meant to be run directly: run the program that uses\n' +
  'this plugin, and it will start the plugin itself.\n';

/**
 * Serves plugins from this process, as go-plugin's Serve: checks the cookie, negotiates
 * the protocol version and codec, listens on a private socket, prints the handshake line,
 * then serves the host over yamux until it says quit or goes away.
 */
export async function serve(options: ServeOptions): Promise<PluginServer> {
  const exit = options.exit ?? true;
  const log = options.logger ?? createLogger({ name: 'plugwire' });
  const cookieKey = options.handshake?.magicCookieKey ?? DEFAULT_MAGIC_COOKIE.key;
  const cookieValue = options.handshake?.magicCookieValue ?? DEFAULT_MAGIC_COOKIE.value;
  if (process.env[cookieKey] !== cookieValue) {
    process.stderr.write(COOKIE_MESSAGE);
    if (exit) process.exit(1);
    throw new Error('magic cookie mismatch: not started by a plugwire host');
  }

  const sets = pluginSets(options, options.handshake?.protocolVersion ?? 1);
  const hostVersions = parseVersionList(process.env[Env.ProtocolVersions]);
  const version = negotiateVersion(hostVersions.length ? hostVersions : [...sets.keys()], [
    ...sets.keys(),
  ]);
  if (version === undefined) {
    return fatal(
      `no common protocol version: the host offers [${hostVersions.join(', ')}], this plugin serves [${[...sets.keys()].join(', ')}]`,
    );
  }
  const pluginCodecs = options.codecs ?? defaults.codecs;
  const hostCodecs = (process.env[Env.Codecs] ?? 'msgpack,json').split(',').map((c) => c.trim());
  const codecName = negotiateCodec(hostCodecs, pluginCodecs);
  if (codecName === undefined) {
    return fatal(
      `no common codec: the host accepts [${hostCodecs.join(', ')}], this plugin speaks [${pluginCodecs.join(', ')}]`,
    );
  }
  const codec = codecByName(codecName);
  const set = sets.get(version)!;

  // AutoMTLS: the host sent its one-off certificate; make ours, accept only its.
  let tlsOptions: TlsOptions | undefined = options.tls;
  let pinnedHostCert: string | undefined;
  let certField: string | undefined;
  const hostCert = process.env[Env.ClientCert];
  if (hostCert) {
    const own = await generateIdentity();
    tlsOptions = pluginTlsOptions(own, hostCert);
    pinnedHostCert = hostCert;
    certField = certToBase64Der(own.cert);
  }
  const secureContext = tlsOptions ? createSecureContext(tlsOptions) : undefined;
  const reattachable = process.env[Env.Reattachable] === '1';
  // tcp authentication: taken out of the environment, so that processes this plugin starts
  // do not inherit the key to it.
  const token = process.env[Env.AuthToken];
  delete process.env[Env.AuthToken];

  const network =
    process.env[Env.Network] === 'tcp' || process.platform === 'win32' ? 'tcp' : 'unix';
  const listener: Listener = await listen({
    network,
    socketDir: process.env[Env.UnixSocketDir],
    socketGroup: process.env[Env.UnixSocketGroup],
    minPort: numberEnv(Env.MinPort),
    maxPort: numberEnv(Env.MaxPort),
  });

  // Whatever ends the process (quit, crash, process.exit in plugin code), the socket
  // directory goes with it.
  const removeListener = () => listener.close();
  process.on('exit', removeListener);
  // With the host gone, writes to our stdout/stderr pipes fail with EPIPE: that must not
  // become an uncaught exception that skips the shutdown.
  process.stdout.on('error', ignore);
  process.stderr.on('error', ignore);

  let session: Session | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  let stopping: Promise<void> | undefined;
  const stop = (reason: string, code = 0): Promise<void> => {
    stopping ??= (async () => {
      log.debug('plugin shutting down', { reason });
      try {
        await options.onShutdown?.();
      } catch (err) {
        log.error('onShutdown failed', { error: err as Error });
      }
      session?.destroy();
      listener.close();
      process.off('exit', removeListener);
      process.off('SIGTERM', onSigterm);
      process.off('SIGINT', ignore);
      hostWatch?.stop();
      if (!hostWatch) {
        process.stdin.off('end', onHostGone);
        process.stdin.pause();
      }
      resolveDone();
      if (exit) process.exit(code);
    })();
    return stopping;
  };
  const onSigterm = () => void stop('SIGTERM');
  const onHostGone = () => void stop('the host closed our stdin: it is gone');
  // The terminal's Ctrl-C is the host's to handle (go-plugin does the same); SIGTERM is a
  // request to stop cleanly.
  process.on('SIGINT', ignore);
  process.on('SIGTERM', onSigterm);
  if (exit) installCrashLogging(log);
  let hostWatch: HostWatch | undefined;

  const accept = (socket: Socket): void => {
    const s = servePluginConnection(socket, {
      plugins: set,
      protocolVersion: version,
      codec,
      name: 'plugin',
      brokerTimeout: options.brokerTimeout ?? defaults.brokerTimeout,
      maxMessageSize: options.maxMessageSize,
      mux: options.mux,
      exposeStack: options.exposeStack,
      init: options.init,
      start: options.start,
      onQuit: () => void stop('the host asked to quit'),
      onError: (message, error) => log.error(message, { error }),
    });
    session = s;
    s.once('close', (err) => {
      const why = err ? `connection to the host lost: ${err.message}` : 'the host disconnected';
      if (reattachable) {
        // Keep running for the next host (reattach).
        log.debug('host gone; waiting for a host to reattach', { reason: why });
        if (session === s) session = undefined;
        return;
      }
      void stop(why);
    });
  };

  const secure = (socket: Socket): void => {
    if (!secureContext) {
      accept(socket);
      return;
    }
    // TLS: only a client that completes the handshake (with the host's certificate, for
    // AutoMTLS) becomes the host; anyone else is dropped and we keep waiting.
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext,
      requestCert: tlsOptions!.requestCert ?? false,
      rejectUnauthorized: tlsOptions!.rejectUnauthorized ?? true,
    });
    let refused = false;
    const refuse = (why: string) => {
      clearTimeout(timer);
      if (refused) return;
      refused = true;
      log.warn('refused a connection', { reason: why });
      tls.destroy();
    };
    const timer = setTimeout(
      () => refuse(`no TLS handshake within ${TLS_HANDSHAKE_TIMEOUT_MS} ms`),
      TLS_HANDSHAKE_TIMEOUT_MS,
    );
    const onError = (err: Error) => refuse(`TLS handshake failed: ${err.message}`);
    tls.on('error', onError);
    tls.once('secure', () => {
      clearTimeout(timer);
      if (session) return refuse('a host is already connected');
      if (pinnedHostCert && !presentedCertificateIs(tls.getPeerCertificate(), pinnedHostCert)) {
        return refuse("the client certificate is not the host's");
      }
      tls.off('error', onError);
      accept(tls);
    });
  };

  listener.server.on('connection', (socket: Socket) => {
    if (session) {
      // One host per plugin process.
      socket.destroy();
      return;
    }
    if (listener.network === 'tcp' && token) {
      // Any local user can connect to a loopback port: only the one who presents the token
      // of this start is the host (issue #13, item 8).
      checkToken(
        socket,
        token,
        (why) => log.warn('refused a connection', { reason: why }),
        () => {
          if (session) socket.destroy();
          else secure(socket);
        },
      );
      return;
    }
    secure(socket);
  });

  const line = formatHandshake({
    coreVersion: CORE_PROTOCOL_VERSION,
    appVersion: version,
    network: listener.network,
    address: listener.address,
    codec: codecName,
    ...(certField ? { cert: certField } : {}),
  });
  // One write of one whole line: pipes are synchronous on POSIX, so plugin output printed
  // before cannot split it, and output printed later comes after it.
  process.stdout.write(`${line}\n`);
  // A plugwire host keeps our stdin open as a pipe: its EOF means the host died, even if
  // it never connected. Only a pipe or socket counts (a terminal or /dev/null says nothing).
  // A reattachable plugin outlives its host on purpose.
  // Watched off the main thread, so that a plugin stuck in a busy loop still dies with its
  // host; on the main thread only where no worker can start. Started after the handshake
  // line: the worker's start-up (~20-40 ms of CPU) then does not delay the host's start.
  if (stdinIsPipe() && !reattachable) {
    hostWatch = watchHost(onHostGone);
    if (!hostWatch) {
      process.stdin.on('end', onHostGone);
      process.stdin.on('error', ignore);
      process.stdin.resume();
    }
  }

  log.debug('plugin serving', { address: listener.address, protocol: version, codec: codecName });

  return {
    protocolVersion: version,
    codec: codecName,
    address: listener.address,
    stop: () => stop('stop() called'),
    done,
  };

  function fatal(message: string): never {
    log.error(message);
    if (exit) process.exit(1);
    throw new Error(message);
  }
}

function ignore(): void {}

/**
 * How long a connection may take to complete the TLS handshake before it is dropped. The
 * host starts it at once; this bounds connections of others that stall.
 */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * How long a tcp connection may take to present the token. The host sends it at once; this
 * only bounds connections of others that say nothing.
 */
const TOKEN_TIMEOUT_MS = 5_000;

/**
 * Reads the first AUTH_TOKEN_LENGTH bytes of a tcp connection and compares them with the
 * token in constant time: a match is answered with TCP_AUTH_ACK and handed on, anything
 * else (other bytes, too few, too late) closes the connection.
 */
function checkToken(
  socket: Socket,
  token: string,
  refused: (why: string) => void,
  accepted: () => void,
): void {
  const expected = Buffer.from(token);
  let got = Buffer.alloc(0);
  const done = (why: string | undefined) => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('end', onEnd);
    if (why === undefined) return;
    refused(why);
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    got = Buffer.concat([got, chunk]);
    if (got.length < expected.length) return;
    const presented = got.subarray(0, expected.length);
    if (!timingSafeEqual(presented, expected)) {
      done('wrong tcp token');
      return;
    }
    done(undefined);
    // A host sends nothing more before our answer; bytes that came anyway go back in front.
    if (got.length > expected.length) socket.unshift(got.subarray(expected.length));
    socket.write(Buffer.from([TCP_AUTH_ACK]));
    accepted();
  };
  const onError = (err: Error) => done(`connection failed before the tcp token: ${err.message}`);
  const onEnd = () => done('connection closed before the tcp token');
  const timer = setTimeout(
    () => done(`no tcp token within ${TOKEN_TIMEOUT_MS} ms`),
    TOKEN_TIMEOUT_MS,
  );
  socket.on('data', onData);
  socket.on('error', onError);
  socket.once('end', onEnd);
}

function numberEnv(name: string): number | undefined {
  const v = process.env[name];
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** A pipe or a socket pair (what Node's `stdio: 'pipe'` makes on Linux): not a terminal or a file. */
function stdinIsPipe(): boolean {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

let crashLogging = false;

/** An uncaught exception reaches the host as an error-level record with its stack. */
function installCrashLogging(log: Logger): void {
  if (crashLogging) return;
  crashLogging = true;
  const crash = (kind: string) => (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    log.error(`${kind}: ${e.message}`, { stack: e.stack, name: e.name });
    process.exit(1);
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));
}
