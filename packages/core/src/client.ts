import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { basename, resolve as resolvePath } from 'node:path';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import type { MuxBroker, SessionOptions } from '@plugwire/mux';
import { codecByName, type RpcPeer } from '@plugwire/rpc';
import createDebug from 'debug';
import { type ChecksumConfig, resolveCommand, verifyChecksum } from './checksum.js';
import { HostConnection } from './connection.js';
import { ControlMethod, DEFAULT_MAGIC_COOKIE, Env } from './constants.js';
import {
  ClientStateError,
  type ExitStatus,
  HandshakeError,
  PluginExitedError,
  StartTimeoutError,
} from './errors.js';
import {
  findHandshake,
  type Handshake,
  type HandshakeConfig,
  parseHandshake,
} from './handshake.js';
import { type LogRecord, parseLogLine } from './logs.js';
import { manage, unmanage } from './managed.js';
import {
  type Dispensable,
  dispenseName,
  type Plugin,
  type PluginSet,
  pluginSets,
} from './plugin.js';
import { PluginProcess, type ProcessHandle, type SpawnFunction, spawnCommand } from './process.js';
import { AttachedProcess, isAlive, type ReattachConfig, ReattachError } from './reattach.js';
import { removeSocketDir } from './socket.js';
import { base64DerToPem, generateIdentity, hostTlsOptions, type TlsIdentity } from './tls.js';

const debug = createDebug('plugwire:client');

/** How long pending calls wait for the exit status after the connection drops. */
const EXIT_STATUS_WAIT_MS = 80;

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
  /** Longest wait for the handshake line and the connection. @default 60_000 (ms) */
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
   * bundle the plugin into one file for the hash to cover all of its code.
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
   * protocol version; a process that is not verified this way is never signalled.
   */
  reattach?: ReattachConfig;
}

/** The answer to `plugwire/info`. */
export interface PluginInfoResponse {
  pid: number;
  protocolVersion: number;
  codec: string;
  /** The plugin names it serves. */
  plugins: string[];
  /** Method names per plugin, or null where the plugin did not declare them (older plugins omit this). */
  methods?: Record<string, string[] | null>;
}

/** `idle` → `starting` → `running` → (`stopping`) → `exited`. */
export type PluginClientState = 'idle' | 'starting' | 'running' | 'stopping' | 'exited';

export interface PluginClientEvents {
  /** The plugin process exited (however it happened). */
  exit: [status: ExitStatus];
}

/**
 * The host side of one plugin process, as go-plugin's Client: starts the process, checks
 * the handshake, connects, multiplexes the socket, dispenses plugins, and kills it.
 * A plugin that crashes never takes the host down: calls reject with PluginExitedError.
 */
export class PluginClient extends EventEmitter<PluginClientEvents> {
  readonly name: string;
  readonly #o: PluginClientOptions;
  readonly #sets: Map<number, PluginSet>;
  readonly #versions: number[];
  readonly #codecs: readonly string[];
  readonly #log: (record: LogRecord) => void;
  readonly #stdout: (line: string) => void;
  #state: PluginClientState = 'idle';
  #starting: Promise<void> | undefined;
  #killing: Promise<ExitStatus> | undefined;
  #process: ProcessHandle | undefined;
  #identity: TlsIdentity | undefined;
  #handshake: Handshake | undefined;
  #socket: Socket | undefined;
  #conn: HostConnection | undefined;
  #exitStatus: ExitStatus | undefined;
  #exitError: PluginExitedError | undefined;
  readonly #exited: Promise<ExitStatus>;
  #resolveExited!: (s: ExitStatus) => void;
  #onHandshakeLine: ((line: string) => void) | undefined;

  constructor(options: PluginClientOptions) {
    super();
    if (!options.command && !options.spawn && !options.reattach) {
      throw new TypeError('PluginClient needs a command, a spawn function or a reattach config');
    }
    this.#o = options;
    const script = options.args?.find((a) => /\.[cm]?[jt]s$/.test(a));
    this.name =
      options.name ?? basename(script ?? options.command ?? 'plugin').replace(/\.[^.]*$/, '');
    this.#sets = pluginSets(options, options.handshake?.protocolVersion ?? 1);
    this.#versions = [...this.#sets.keys()].sort((a, b) => b - a);
    this.#codecs = options.codecs ?? ['msgpack', 'json'];
    for (const c of this.#codecs) codecByName(c); // unknown codec names fail here, not later
    const pluginDebug = createDebug(`plugwire:plugin:${this.name}`);
    this.#log =
      options.logger ??
      ((r) =>
        pluginDebug('%s%s %o', r.level === 'info' ? '' : `[${r.level}] `, r.message, r.fields));
    this.#stdout = options.stdout ?? ((line) => pluginDebug('stdout: %s', line));
    this.#exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
  }

  get state(): PluginClientState {
    return this.#state;
  }

  /** The plugin's process id, once started. */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** The application protocol version both sides agreed on. */
  get negotiatedVersion(): number | undefined {
    return this.#handshake?.appVersion;
  }

  /** The codec both sides agreed on (`msgpack` or `json`). */
  get codec(): string | undefined {
    return this.#handshake?.codec;
  }

  /** The handshake the plugin printed, once started. */
  get handshake(): Readonly<Handshake> | undefined {
    return this.#handshake;
  }

  /** Extra streams to and from the plugin, by id. */
  get broker(): MuxBroker {
    if (!this.#conn) throw new ClientStateError('the plugin is not started');
    return this.#conn.broker;
  }

  /** True once the plugin process has exited. */
  get exited(): boolean {
    return this.#state === 'exited';
  }

  /**
   * True once kill() was called — by the host, or by cleanupClients() on the host's exit or
   * a signal — so a supervisor can tell a requested exit from a crash.
   */
  get killRequested(): boolean {
    return this.#killing !== undefined;
  }

  /** The exit status, once exited. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exitStatus;
  }

  /** Resolves with the exit status when the process exits (never rejects). */
  waitForExit(): Promise<ExitStatus> {
    return this.#exited;
  }

  /** Starts the plugin; resolves once the control channel is up. Idempotent. */
  start(): Promise<void> {
    if (this.#state === 'exited' || this.#state === 'stopping') {
      return Promise.reject(this.#exitError ?? new ClientStateError('the plugin was killed'));
    }
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /**
   * Returns the client side of plugin `name` (what its `client()` builds, or the raw RPC
   * peer), starting the plugin if needed. Dispensing a name again returns the same client.
   */
  dispense<T = RpcPeer>(name: string): Promise<T>;
  dispense<T>(plugin: Plugin<T> & { readonly name: string }): Promise<T>;
  async dispense<T>(plugin: Dispensable<T>): Promise<T> {
    const name = dispenseName(plugin);
    await this.start();
    return (await this.#conn!.dispense(name)) as T;
  }

  /** What the plugin serves (`plugwire/info`), starting the plugin if needed. */
  async info(): Promise<PluginInfoResponse> {
    await this.start();
    return this.#conn!.control.request<PluginInfoResponse>(ControlMethod.Info, {});
  }

  /** Round trip over the control channel, in milliseconds. */
  async ping(): Promise<number> {
    await this.start();
    return this.#conn!.ping();
  }

  /**
   * Asks the plugin to quit, waits `killGrace`, then SIGKILLs it (and its process group).
   * Resolves when the process is gone and its socket directory removed. Idempotent and safe
   * to call concurrently; before start() it only marks the client unusable.
   */
  kill(): Promise<ExitStatus> {
    this.#killing ??= this.#kill();
    return this.#killing;
  }

  /**
   * A JSON-serialisable record to connect to this plugin again (`new PluginClient({
   * reattach })`), from this or another host process. Useful for plugins started with
   * `reattachable: true`, which outlive their host. With AutoMTLS it holds the host's
   * private key: store it like a secret.
   */
  reattachConfig(): ReattachConfig {
    const h = this.#handshake;
    const pid = this.#process?.pid;
    if (this.#state !== 'running' || !h || pid === undefined) {
      throw new ClientStateError('reattachConfig() needs a running plugin');
    }
    return {
      version: 1,
      pid,
      network: h.network,
      address: h.address,
      protocolVersion: h.appVersion,
      codec: h.codec,
      ...(h.cert ? { cert: h.cert } : {}),
      ...(this.#identity ? { clientCert: this.#identity.cert, clientKey: this.#identity.key } : {}),
    };
  }

  /**
   * Lets go of a running plugin without stopping it: closes this host's connection and
   * stops holding the host's event loop open for it. A plugin started with
   * `reattachable: true` keeps running and can be reattached; any other plugin exits, as
   * its host is gone.
   */
  async detach(): Promise<void> {
    if (this.#state !== 'running') throw new ClientStateError('detach() needs a running plugin');
    this.#state = 'exited';
    const session = this.#conn!.session;
    session.destroy();
    this.#socket?.destroy();
    this.#process?.release();
    unmanage(this);
    await session.closed;
  }

  // ---- start -------------------------------------------------------------------------

  async #start(): Promise<void> {
    this.#state = 'starting';
    if (this.#o.reattach) await this.#reattach(this.#o.reattach);
    else await this.#spawn();
  }

  async #spawn(): Promise<void> {
    const o = this.#o;
    const timeout = o.startTimeout ?? 60_000;
    if (o.checksum) await verifyChecksum(this.#checksumFile(o.checksum), o.checksum);
    if (o.autoMTLS) this.#identity = await generateIdentity();
    const proc = new PluginProcess({
      spawn: o.spawn ?? spawnCommand(o.command!, o.args ?? [], { cwd: o.cwd }),
      env: this.#environment(),
      onStdoutLine: (line) =>
        this.#onHandshakeLine ? this.#onHandshakeLine(line) : this.#stdout(line),
      onStderrLine: (line) => {
        const record = parseLogLine(line, this.name);
        // an hclog record goes to the logger alone, so that no line arrives twice
        if (!(record.structured && o.logger)) o.stderr?.(line);
        this.#log(record);
      },
    });
    this.#process = proc;
    if (o.managed !== false && !o.reattachable) manage(this);
    proc.exited.then((status) => this.#onExit(status));
    debug('%s: started pid %d', this.name, proc.pid);
    try {
      const handshake = await this.#readHandshake(proc, timeout);
      this.#handshake = handshake;
      const socket = await this.#connect(handshake, proc.stderrTail(), timeout);
      this.#open(socket, handshake);
      await this.#conn!.init(o.config);
      if (this.#state !== 'starting')
        throw this.#exitError ?? new ClientStateError('the plugin was killed while starting');
      this.#state = 'running';
      debug('%s: running, protocol v%d, %s', this.name, handshake.appVersion, handshake.codec);
    } catch (err) {
      // Never leave a half-started process behind.
      proc.signal('SIGKILL');
      await proc.exited;
      throw err;
    }
  }

  /** Connects to a running plugin from a reattach record, verifying it is the same plugin. */
  async #reattach(r: ReattachConfig): Promise<void> {
    const proc = new AttachedProcess(r.pid);
    this.#process = proc;
    proc.exited.then((status) => this.#onExit(status));
    const fail = (message: string, cause?: unknown): never => {
      proc.markGone(); // nothing of ours to wait for; and never signal an unverified pid
      throw new ReattachError(
        `cannot reattach to pid ${r.pid} at ${r.network}:${r.address}: ${message}`,
        {
          cause,
        },
      );
    };
    if (r.version !== 1) fail(`unknown reattach record version ${String(r.version)}`);
    if (!isAlive(r.pid)) fail('no such process');
    if (!this.#versions.includes(r.protocolVersion)) {
      fail(
        `protocol version ${r.protocolVersion} is not one of this host's [${this.#versions.join(', ')}]`,
      );
    }
    if (!this.#codecs.includes(r.codec)) fail(`codec ${r.codec} is not accepted by this host`);
    if (r.clientCert && r.clientKey) this.#identity = { cert: r.clientCert, key: r.clientKey };
    const handshake: Handshake = {
      coreVersion: 1,
      appVersion: r.protocolVersion,
      network: r.network,
      address: r.address,
      codec: r.codec,
      ...(r.cert ? { cert: r.cert } : {}),
    };
    let socket: Socket;
    try {
      socket = await this.#connect(handshake, [], this.#o.startTimeout ?? 60_000);
    } catch (err) {
      return fail(`the address does not answer (${(err as Error).message})`, err);
    }
    this.#handshake = handshake;
    this.#open(socket, handshake);
    const info = await this.#conn!.control.request<PluginInfoResponse>(
      ControlMethod.Info,
      {},
      { timeout: 5_000 },
    ).catch((err: Error) => err);
    const mismatch =
      info instanceof Error
        ? `the plugin did not answer plugwire/info (${info.message})`
        : info.pid !== r.pid
          ? `the address is served by pid ${info.pid}: the record is stale`
          : info.protocolVersion !== r.protocolVersion
            ? `the plugin speaks protocol version ${info.protocolVersion}, the record says ${r.protocolVersion}`
            : undefined;
    if (mismatch) {
      this.#conn!.session.destroy();
      socket.destroy();
      fail(mismatch);
    }
    proc.verify();
    this.#conn!.session.once('close', () => proc.watch());
    this.#state = 'running';
    debug('%s: reattached to pid %d', this.name, r.pid);
  }

  /** The yamux session, broker and control channel over a connected socket. */
  #open(socket: Socket, handshake: Handshake): void {
    const o = this.#o;
    this.#socket = socket;
    this.#conn = new HostConnection(
      socket,
      {
        plugins: this.#sets.get(handshake.appVersion)!,
        protocolVersion: handshake.appVersion,
        codec: codecByName(handshake.codec),
        name: this.name,
        brokerTimeout: o.brokerTimeout ?? 5_000,
        maxMessageSize: o.maxMessageSize,
        mux: o.mux,
      },
      (err) => this.#explainLoss(err),
    );
  }

  /** The file a checksum covers: the script of `node script.js`, else the command. */
  #checksumFile(c: ChecksumConfig): string {
    if (c.file) return resolvePath(this.#o.cwd ?? '.', c.file);
    const o = this.#o;
    if (!o.command)
      throw new TypeError('checksum.file is needed when the plugin is started by spawn()');
    const isNode = o.command === process.execPath || /^node(\.exe)?$/.test(basename(o.command));
    const script = isNode ? o.args?.find((a) => !a.startsWith('-')) : undefined;
    if (isNode && !script) throw new TypeError('checksum: no script among the args of node');
    return resolvePath(o.cwd ?? '.', script ?? resolveCommand(o.command));
  }

  #environment(): NodeJS.ProcessEnv {
    const o = this.#o;
    const cookie = o.handshake ?? {};
    const env: NodeJS.ProcessEnv = { ...(o.skipHostEnv ? {} : process.env) };
    for (const [k, v] of Object.entries(o.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    env[cookie.magicCookieKey ?? DEFAULT_MAGIC_COOKIE.key] =
      cookie.magicCookieValue ?? DEFAULT_MAGIC_COOKIE.value;
    env[Env.ProtocolVersions] = this.#versions.join(',');
    if (this.#identity) env[Env.ClientCert] = this.#identity.cert;
    if (o.reattachable) env[Env.Reattachable] = '1';
    env[Env.Codecs] = this.#codecs.join(',');
    if (o.unixSocketDir) env[Env.UnixSocketDir] = o.unixSocketDir;
    if (o.unixSocketGroup) env[Env.UnixSocketGroup] = o.unixSocketGroup;
    if (o.network) env[Env.Network] = o.network;
    if (o.minPort !== undefined) env[Env.MinPort] = String(o.minPort);
    if (o.maxPort !== undefined) env[Env.MaxPort] = String(o.maxPort);
    return env;
  }

  /** Waits for the handshake line; other stdout lines before it are plugin output. */
  #readHandshake(proc: ProcessHandle, timeout: number): Promise<Handshake> {
    return new Promise<Handshake>((resolve, reject) => {
      const done = (err: Error | null, h?: Handshake) => {
        clearTimeout(timer);
        this.#onHandshakeLine = undefined;
        if (err) reject(err);
        else resolve(h!);
      };
      const timer = setTimeout(
        () => done(new StartTimeoutError(timeout, proc.stderrTail())),
        timeout,
      );
      this.#onHandshakeLine = (line) => {
        const found = findHandshake(line);
        if (!found) {
          this.#stdout(line);
          return;
        }
        if (found.before) this.#stdout(found.before);
        try {
          const h = parseHandshake(found.candidate, {
            versions: this.#versions,
            codecs: this.#codecs,
          });
          if (this.#identity && !h.cert) {
            throw new HandshakeError(
              'the plugin returned no certificate in its handshake: it does not support AutoMTLS',
            );
          }
          if (h.cert && !this.#identity && !this.#o.tls) {
            throw new HandshakeError(
              'the plugin offered TLS (a certificate in its handshake) but this host has no TLS configured',
            );
          }
          done(null, h);
        } catch (err) {
          const e = err as HandshakeError;
          done(new HandshakeError(e.message, { line: found.candidate, stderr: proc.stderrTail() }));
        }
      };
      proc.exited.then((status) => {
        if (proc.spawnError) {
          done(
            new HandshakeError(
              `could not start the plugin "${this.#o.command ?? 'spawn()'}": ${proc.spawnError.message}`,
              { cause: proc.spawnError, code: 'PLUGWIRE_SPAWN' },
            ),
          );
          return;
        }
        const e = new PluginExitedError(
          status,
          proc.stderrTail(),
          'the plugin exited before the handshake',
        );
        done(new HandshakeError(e.message, { stderr: [], cause: e }));
      });
    });
  }

  /** Connects to the handshake's address, then does the TLS handshake when there is TLS. */
  async #connect(h: Handshake, stderr: readonly string[], timeout: number): Promise<Socket> {
    const raw = await new Promise<Socket>((resolve, reject) => {
      let socket: Socket;
      if (h.network === 'unix') {
        socket = connect({ path: h.address });
      } else {
        const i = h.address.lastIndexOf(':');
        socket = connect({
          host: h.address.slice(0, i).replace(/^\[|\]$/g, ''),
          port: Number(h.address.slice(i + 1)),
          noDelay: true,
        });
      }
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new StartTimeoutError(timeout, stderr));
      }, timeout);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(socket);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(
          new HandshakeError(
            `could not connect to the plugin at ${h.network}:${h.address}: ${err.message}`,
            { cause: err, stderr, code: 'PLUGWIRE_CONNECT' },
          ),
        );
      };
      socket.once('error', onError);
    });
    const options =
      this.#identity && h.cert
        ? hostTlsOptions(this.#identity, base64DerToPem(h.cert))
        : this.#o.tls;
    if (!options) return raw;
    return new Promise<Socket>((resolve, reject) => {
      const secure = tlsConnect({ ...options, socket: raw });
      const timer = setTimeout(() => {
        secure.destroy();
        reject(new StartTimeoutError(timeout, stderr));
      }, timeout);
      secure.once('secureConnect', () => {
        clearTimeout(timer);
        secure.off('error', onError);
        resolve(secure);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        secure.destroy();
        reject(
          new HandshakeError(`the TLS handshake with the plugin failed: ${err.message}`, {
            cause: err,
            stderr,
            code: 'PLUGWIRE_TLS',
          }),
        );
      };
      secure.once('error', onError);
    });
  }

  /**
   * The connection dropped: if the process exits right after (it usually has already, or
   * is about to), calls reject with PluginExitedError and its exit status and stderr.
   */
  async #explainLoss(err: Error): Promise<Error> {
    if (this.#exitError) return this.#exitError;
    const proc = this.#process;
    if (!proc) return err;
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      proc.exited,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), EXIT_STATUS_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    return status ? (this.#exitError ?? new PluginExitedError(status, proc.stderrTail())) : err;
  }

  // ---- kill and exit -----------------------------------------------------------------

  async #kill(): Promise<ExitStatus> {
    const proc = this.#process;
    if (this.#state === 'idle' || !proc) {
      this.#state = 'exited';
      const status = { code: null, signal: null };
      this.#exitStatus = status;
      this.#resolveExited(status);
      return status;
    }
    if (this.#state === 'exited' && !proc.hasExited) {
      return this.#exitStatus ?? { code: null, signal: null }; // detached: not ours to stop
    }
    if (this.#state !== 'exited') this.#state = 'stopping';
    const grace = this.#o.killGrace ?? 2_000;
    if (proc instanceof AttachedProcess) proc.watch();
    if (!proc.hasExited) {
      const control = this.#conn?.control;
      if (control && !control.closed) {
        // A plugin that answers quit exits by itself; one that does not gets SIGKILL below.
        // Its stdin closes once quit is answered or refused (a plugin without quit stops on
        // that EOF), not at once: else it would stop on "the host is gone" first.
        const closeStdin = () => proc.closeStdin();
        control.request(ControlMethod.Quit, {}, { timeout: grace }).then(closeStdin, closeStdin);
      } else {
        proc.closeStdin();
      }
      let timer: NodeJS.Timeout | undefined;
      const graceful = await Promise.race([
        proc.exited,
        new Promise<undefined>((r) => {
          timer = setTimeout(() => r(undefined), grace);
        }),
      ]);
      clearTimeout(timer);
      if (!graceful) {
        debug('%s: did not exit within %d ms of quit: SIGKILL', this.name, grace);
        proc.signal('SIGKILL');
      }
    }
    await proc.exited;
    await this.#exited; // #onExit has run: connection closed, socket dir removed
    return this.#exitStatus!;
  }

  /** Synchronous last resort for the host's 'exit' event: SIGKILL and remove the socket. @internal */
  _killNow(): void {
    this.#process?.signal('SIGKILL');
    this.#removeSocketDir();
  }

  #onExit(status: ExitStatus): void {
    const proc = this.#process!;
    if (this.#exitStatus) return;
    this.#exitStatus = status;
    this.#exitError = new PluginExitedError(status, proc.stderrTail());
    this.#state = 'exited';
    debug('%s: exited %o', this.name, status);
    this.#conn?.session.destroy(this.#exitError);
    this.#socket?.destroy();
    this.#removeSocketDir();
    unmanage(this);
    this.#resolveExited(status);
    this.emit('exit', status);
  }

  #removeSocketDir(): void {
    const h = this.#handshake;
    // Never touch the socket of a process that is not verifiably this plugin.
    if (h?.network === 'unix' && this.#process?.owned) {
      try {
        removeSocketDir(h.address);
      } catch (err) {
        debug('%s: could not remove the socket dir: %s', this.name, (err as Error).message);
      }
    }
  }
}
