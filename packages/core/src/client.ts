import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { basename } from 'node:path';
import type { MuxBroker, SessionOptions } from '@plugwire/mux';
import { codecByName, type RpcPeer } from '@plugwire/rpc';
import createDebug from 'debug';
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
import { PluginProcess, type SpawnFunction, spawnCommand } from './process.js';
import { removeSocketDir } from './socket.js';

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
  /** Each raw stderr line, before parsing (in addition to `logger`). */
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
  #process: PluginProcess | undefined;
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
    if (!options.command && !options.spawn) {
      throw new TypeError('PluginClient needs a command or a spawn function');
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

  // ---- start -------------------------------------------------------------------------

  async #start(): Promise<void> {
    this.#state = 'starting';
    const o = this.#o;
    const timeout = o.startTimeout ?? 60_000;
    const proc = new PluginProcess({
      spawn: o.spawn ?? spawnCommand(o.command!, o.args ?? [], { cwd: o.cwd }),
      env: this.#environment(),
      onStdoutLine: (line) =>
        this.#onHandshakeLine ? this.#onHandshakeLine(line) : this.#stdout(line),
      onStderrLine: (line) => {
        o.stderr?.(line);
        this.#log(parseLogLine(line, this.name));
      },
    });
    this.#process = proc;
    if (o.managed !== false) manage(this);
    proc.exited.then((status) => this.#onExit(status));
    debug('%s: started pid %d', this.name, proc.pid);
    try {
      const handshake = await this.#readHandshake(proc, timeout);
      this.#handshake = handshake;
      const socket = await this.#connect(handshake, proc, timeout);
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
      await this.#conn.init(o.config);
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
    env[Env.Codecs] = this.#codecs.join(',');
    if (o.unixSocketDir) env[Env.UnixSocketDir] = o.unixSocketDir;
    if (o.unixSocketGroup) env[Env.UnixSocketGroup] = o.unixSocketGroup;
    if (o.network) env[Env.Network] = o.network;
    if (o.minPort !== undefined) env[Env.MinPort] = String(o.minPort);
    if (o.maxPort !== undefined) env[Env.MaxPort] = String(o.maxPort);
    return env;
  }

  /** Waits for the handshake line; other stdout lines before it are plugin output. */
  #readHandshake(proc: PluginProcess, timeout: number): Promise<Handshake> {
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
          done(
            null,
            parseHandshake(found.candidate, { versions: this.#versions, codecs: this.#codecs }),
          );
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

  #connect(h: Handshake, proc: PluginProcess, timeout: number): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
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
        reject(new StartTimeoutError(timeout, proc.stderrTail()));
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
            {
              cause: err,
              stderr: proc.stderrTail(),
              code: 'PLUGWIRE_CONNECT',
            },
          ),
        );
      };
      socket.once('error', onError);
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
    if (this.#state !== 'exited') this.#state = 'stopping';
    const grace = this.#o.killGrace ?? 2_000;
    if (!proc.hasExited) {
      const control = this.#conn?.control;
      if (control && !control.closed) {
        // A plugin that answers quit exits by itself; one that does not gets SIGKILL below.
        control.request(ControlMethod.Quit, {}, { timeout: grace }).catch(() => {});
      }
      proc.closeStdin();
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
    if (h?.network === 'unix') {
      try {
        removeSocketDir(h.address);
      } catch (err) {
        debug('%s: could not remove the socket dir: %s', this.name, (err as Error).message);
      }
    }
  }
}
