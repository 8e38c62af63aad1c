import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { basename } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { type MuxBroker, SessionClosedError } from '@plugwire/mux';
import { codecByName, type RpcPeer } from '@plugwire/rpc';
import createDebug from 'debug';
import { verifyChecksum } from './checksum.js';
import { manage, unmanage } from './cleanup.js';
import {
  type PluginClientOptions,
  REATTACH_INFO_TIMEOUT_MS,
  type ResolvedClientOptions,
  resolveClientOptions,
} from './config.js';
import { HostConnection } from './connection.js';
import { ControlMethod } from './constants.js';
import { StartDeadline } from './deadline.js';
import { dial } from './dial.js';
import { checksumFile, pluginEnvironment } from './environment.js';
import {
  ClientStateError,
  ConnectionLostError,
  type ExitStatus,
  HandshakeError,
  PluginExitedError,
} from './errors.js';
import { findHandshake, type Handshake, parseHandshake } from './handshake.js';
import { type LogRecord, parseLogLine } from './logs.js';
import {
  type Dispensable,
  dispenseName,
  type Plugin,
  type PluginSet,
  pluginSets,
} from './plugin.js';
import { PluginProcess, type ProcessHandle, spawnCommand } from './process.js';
import { AttachedProcess, isAlive, type ReattachConfig, ReattachError } from './reattach.js';
import { HostSocketDir } from './socketdir.js';
import { base64DerToPem, generateIdentity, hostTlsOptions, type TlsIdentity } from './tls.js';

const debug = createDebug('plugwire:client');

/**
 * How long, after the connection drops, the host waits for the process's exit before it
 * calls the loss a broken connection. A plugin that exits closes its socket a moment before
 * the OS reports the exit (SIGCHLD, then the stderr pipe's end: STDIO_SETTLE_MS in
 * process.ts): 80 ms covers that on a loaded machine, so pending calls get
 * PluginExitedError with the exit code and stderr, yet fail fast enough (< 100 ms) when
 * the process is SIGKILLed mid-call.
 */
const EXIT_STATUS_WAIT_MS = 80;

/**
 * Longest stdout line forwarded before the handshake: a line longer than this is cut (the
 * handshake line itself, with a certificate, is under 2 KiB).
 */
const MAX_PRE_HANDSHAKE_LINE = 4 * 1024;

/**
 * Most stdout (in characters) a plugin may print before its handshake line; more fails the
 * start. Plugin code that prints before serve() is fine; megabytes of it are not a plugin
 * starting up.
 */
const MAX_PRE_HANDSHAKE_OUTPUT = 1024 * 1024;

/**
 * How many stdout lines before the handshake a failed start quotes, each cut to QUOTED_LINE
 * characters: enough to recognise a program that is not a plugin (a usage text, a server's
 * banner) without repeating a flood.
 */
const QUOTED_STDOUT_LINES = 5;
const QUOTED_LINE = 200;

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
  readonly #r: ResolvedClientOptions;
  readonly #sets: Map<number, PluginSet>;
  readonly #versions: number[];
  readonly #log: (record: LogRecord) => void;
  readonly #stdout: (line: string) => void;
  #state: PluginClientState = 'idle';
  #starting: Promise<void> | undefined;
  #killing: Promise<ExitStatus> | undefined;
  #killRequested = false;
  #process: ProcessHandle | undefined;
  #identity: TlsIdentity | undefined;
  #token: string | undefined;
  #socketDir: HostSocketDir | undefined;
  /** The last stdout lines before the handshake line (see QUOTED_STDOUT_LINES). */
  #preHandshake: string[] = [];
  #handshake: Handshake | undefined;
  #socket: Socket | undefined;
  #conn: HostConnection | undefined;
  #exitStatus: ExitStatus | undefined;
  #exitError: PluginExitedError | undefined;
  #lost: ConnectionLostError | undefined;
  #loss: Promise<Error> | undefined;
  #sessionError: Error | undefined;
  readonly #exited: Promise<ExitStatus>;
  #resolveExited!: (s: ExitStatus) => void;
  #onHandshakeLine: ((line: string) => void) | undefined;

  constructor(options: PluginClientOptions) {
    super();
    this.#r = resolveClientOptions(options);
    this.#o = options;
    const script = options.args?.find((a) => /\.[cm]?[jt]s$/.test(a));
    this.name =
      options.name ?? basename(script ?? options.command ?? 'plugin').replace(/\.[^.]*$/, '');
    this.#sets = pluginSets(options, options.handshake?.protocolVersion ?? 1);
    this.#versions = [...this.#sets.keys()].sort((a, b) => b - a);
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
   * a signal — so a supervisor can tell a requested exit from a crash. A plugin the client
   * stopped because its connection broke is a crash: this stays false.
   */
  get killRequested(): boolean {
    return this.#killRequested;
  }

  /** The exit status, once exited. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exitStatus;
  }

  /**
   * Why the plugin is gone, once exited: ConnectionLostError when the client stopped it
   * because its connection broke (`cause` is the transport's error), else
   * PluginExitedError with the exit status.
   */
  get exitReason(): PluginExitedError | ConnectionLostError | undefined {
    return this.#lost ?? this.#exitError;
  }

  /** Resolves with the exit status when the process exits (never rejects). */
  waitForExit(): Promise<ExitStatus> {
    return this.#exited;
  }

  /** Starts the plugin; resolves once the control channel is up. Idempotent. */
  start(): Promise<void> {
    if (this.#state === 'exited' || this.#state === 'stopping') {
      return Promise.reject(this.exitReason ?? new ClientStateError('the plugin was killed'));
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
    this.#killRequested = true;
    return this.#stop();
  }

  /**
   * A JSON-serialisable record to connect to this plugin again (`new PluginClient({
   * reattach })`), from this or another host process. Useful for plugins started with
   * `reattachable: true`, which outlive their host. It holds the tcp token and, with
   * AutoMTLS, the host's private key: store it like a secret.
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
      ...(this.#token && h.network === 'tcp' ? { token: this.#token } : {}),
      ...(this.#socketDir && h.network === 'unix' ? { socketDir: this.#socketDir.path } : {}),
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
    if (o.checksum) await verifyChecksum(checksumFile(o, o.checksum), o.checksum);
    if (o.autoMTLS) this.#identity = await generateIdentity();
    // POSIX plugins get a directory of the host's for their socket; Windows has only tcp.
    if (process.platform !== 'win32') {
      this.#socketDir = HostSocketDir.create(o.unixSocketDir, o.unixSocketGroup);
    }
    if (!this.#r.insecureTcp) this.#token = randomBytes(32).toString('hex');
    let proc: PluginProcess;
    try {
      proc = new PluginProcess({
        spawn: o.spawn ?? spawnCommand(o.command!, o.args ?? [], { cwd: o.cwd }),
        env: pluginEnvironment(o, {
          versions: this.#versions,
          codecs: this.#r.codecs,
          socketDir: this.#socketDir?.path,
          clientCert: this.#identity?.cert,
          token: this.#token,
        }),
        onStdoutLine: (line) =>
          this.#onHandshakeLine ? this.#onHandshakeLine(line) : this.#stdout(line),
        onStderrLine: (line) => {
          const record = parseLogLine(line, this.name);
          // an hclog record goes to the logger alone, so that no line arrives twice
          if (!(record.structured && o.logger)) o.stderr?.(line);
          this.#log(record);
        },
      });
    } catch (err) {
      this.#socketDir?.remove(undefined);
      throw err;
    }
    this.#process = proc;
    if (this.#r.managed) manage(this);
    proc.exited.then((status) => this.#onExit(status));
    debug('%s: started pid %d', this.name, proc.pid);
    // Only while the handshake line is awaited: later stdout is the plugin's own output.
    const deadline = new StartDeadline(
      this.#r.startTimeout,
      () => proc.stderrTail(),
      () => (this.#onHandshakeLine ? this.#preHandshake.slice() : []),
    );
    try {
      const handshake = await deadline.race(this.#readHandshake(proc), 'the handshake line', () => {
        this.#onHandshakeLine = undefined;
      });
      this.#handshake = handshake;
      if (handshake.network === 'tcp' && this.#socketDir) {
        // Not needed for tcp; a plugin that outlives this host (reattach) must not leave it.
        this.#socketDir.remove(undefined);
        this.#socketDir = undefined;
      }
      const socket = await dial(handshake, {
        deadline,
        stderr: () => proc.stderrTail(),
        tls: this.#tlsOptions(handshake),
        token: this.#token,
      });
      this.#open(socket, handshake);
      // A peer that keeps the connection up but never answers (or is not yamux at all and
      // says nothing) is bounded by the same deadline.
      await deadline.race(this.#conn!.init(o.config), 'the answer to plugwire/init');
      if (this.#state !== 'starting')
        throw this.exitReason ?? new ClientStateError('the plugin was killed while starting');
      this.#state = 'running';
      debug('%s: running, protocol v%d, %s', this.name, handshake.appVersion, handshake.codec);
    } catch (err) {
      // Never leave a half-started process behind.
      proc.signal('SIGKILL');
      await proc.exited;
      await this.#exited; // #onExit has run: connection closed, socket dir removed
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
        { cause },
      );
    };
    if (r.version !== 1) fail(`unknown reattach record version ${String(r.version)}`);
    if (!isAlive(r.pid)) fail('no such process');
    if (!this.#versions.includes(r.protocolVersion)) {
      fail(
        `protocol version ${r.protocolVersion} is not one of this host's [${this.#versions.join(', ')}]`,
      );
    }
    if (!this.#r.codecs.includes(r.codec)) fail(`codec ${r.codec} is not accepted by this host`);
    // The directory the starting host made; removed (known entries only) once verified.
    this.#socketDir = HostSocketDir.adopt(r.socketDir);
    if (r.network === 'unix' && this.#socketDir && !this.#socketDir.contains(r.address)) {
      fail(`the address is outside the record's socket directory ${r.socketDir}`);
    }
    if (r.clientCert && r.clientKey) this.#identity = { cert: r.clientCert, key: r.clientKey };
    this.#token = r.token;
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
      socket = await dial(handshake, {
        deadline: new StartDeadline(this.#r.startTimeout, () => []),
        stderr: () => [],
        tls: this.#tlsOptions(handshake),
        token: this.#token,
      });
    } catch (err) {
      return fail(`the address does not answer (${(err as Error).message})`, err);
    }
    this.#handshake = handshake;
    this.#open(socket, handshake);
    const info = await this.#conn!.control.request<PluginInfoResponse>(
      ControlMethod.Info,
      {},
      { timeout: Math.min(REATTACH_INFO_TIMEOUT_MS, this.#r.startTimeout) },
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
        brokerTimeout: this.#r.brokerTimeout,
        maxMessageSize: o.maxMessageSize,
        mux: o.mux,
      },
      (err) => this.#explainLoss(err),
    );
    this.#conn.session.once('close', (err?: Error) => this.#onSessionClose(err));
  }

  /** TLS for the connection: AutoMTLS with the plugin's certificate, or the user's. */
  #tlsOptions(h: Handshake): ConnectionOptions | undefined {
    return this.#identity && h.cert
      ? hostTlsOptions(this.#identity, base64DerToPem(h.cert))
      : this.#o.tls;
  }

  /**
   * Waits for the handshake line; other stdout lines before it are plugin output, forwarded
   * cut to MAX_PRE_HANDSHAKE_LINE, at most MAX_PRE_HANDSHAKE_OUTPUT of them in all.
   */
  #readHandshake(proc: ProcessHandle): Promise<Handshake> {
    return new Promise<Handshake>((resolve, reject) => {
      let settled = false;
      let seen = 0;
      const done = (err: Error | null, h?: Handshake) => {
        if (settled) return;
        settled = true;
        this.#onHandshakeLine = undefined;
        if (err) reject(err);
        else resolve(h!);
      };
      this.#preHandshake = [];
      const forward = (text: string) => {
        const cut =
          text.length > MAX_PRE_HANDSHAKE_LINE
            ? `${text.slice(0, MAX_PRE_HANDSHAKE_LINE)}… (${text.length - MAX_PRE_HANDSHAKE_LINE} more characters cut)`
            : text;
        // The last few, quoted by the error if no handshake line ever comes.
        this.#preHandshake.push(cut.length > QUOTED_LINE ? `${cut.slice(0, QUOTED_LINE)}…` : cut);
        if (this.#preHandshake.length > QUOTED_STDOUT_LINES) this.#preHandshake.shift();
        this.#stdout(cut);
      };
      this.#onHandshakeLine = (line) => {
        seen += line.length + 1;
        if (seen > MAX_PRE_HANDSHAKE_OUTPUT) {
          done(
            new HandshakeError(
              `the plugin printed more than ${MAX_PRE_HANDSHAKE_OUTPUT} characters to stdout before its handshake line`,
              { stderr: proc.stderrTail(), code: 'PLUGWIRE_HANDSHAKE_OUTPUT' },
            ),
          );
          return;
        }
        const found = findHandshake(line);
        if (!found) {
          forward(line);
          return;
        }
        if (found.before) forward(found.before);
        try {
          done(null, this.#checkHandshake(parseHandshake(found.candidate, this.#expectation())));
        } catch (err) {
          const e = err as HandshakeError;
          done(
            new HandshakeError(e.message, {
              line: found.candidate,
              stderr: proc.stderrTail(),
              ...(e.code ? { code: e.code } : {}),
            }),
          );
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
        done(
          new HandshakeError(e.message, {
            stderr: [],
            stdout: this.#preHandshake.slice(),
            cause: e,
          }),
        );
      });
    });
  }

  #expectation() {
    return { versions: this.#versions, codecs: this.#r.codecs };
  }

  /** What the line may say given how this host started the plugin. */
  #checkHandshake(h: Handshake): Handshake {
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
    if (h.network === 'unix' && !this.#socketDir?.contains(h.address)) {
      // The host connects to this path and removes it afterwards: only a socket in the
      // directory it made for this plugin qualifies (issue #13, item 2).
      throw new HandshakeError(
        `the socket ${h.address} is not in the directory the host gave the plugin (${this.#socketDir?.path ?? 'none'}, PLUGIN_UNIX_SOCKET_DIR): a plugin must create its socket there`,
        { code: 'PLUGWIRE_HANDSHAKE_ADDRESS' },
      );
    }
    return h;
  }

  /**
   * The connection dropped: if the process exits right after (it usually has already, or
   * is about to), calls reject with PluginExitedError and its exit status and stderr; if
   * it lives on while the client was using it, the connection broke (ConnectionLostError).
   */
  #explainLoss(err: Error): Promise<Error> {
    const using = this.#state === 'running' || this.#state === 'starting';
    this.#loss ??= (async () => {
      if (this.#exitError) return this.#exitError;
      const proc = this.#process;
      if (!proc) return err;
      if (proc instanceof AttachedProcess) proc.watch();
      const status = await exitWithin(proc, EXIT_STATUS_WAIT_MS);
      if (status) return this.#exitError ?? new PluginExitedError(status, proc.stderrTail());
      // The session's own error says what broke (the streams only see that it closed).
      return using ? new ConnectionLostError(this.name, this.#sessionError ?? err) : err;
    })();
    return this.#loss;
  }

  /**
   * The session closed. While the plugin was running that means it is gone: if its process
   * lives on (a protocol error, an error GoAway, an oversized frame, a closed socket), stop
   * it and report why (issue #13, item 4).
   */
  #onSessionClose(err: Error | undefined): void {
    this.#sessionError = err;
    if (this.#process instanceof AttachedProcess) this.#process.watch();
    if (this.#state !== 'running') return;
    void this.#explainLoss(err ?? new SessionClosedError('the plugin closed the connection')).then(
      (reason) => {
        if (!(reason instanceof ConnectionLostError) || this.#state !== 'running') return;
        this.#lost = reason;
        debug('%s: %s', this.name, reason.message);
        void this.#stop();
      },
    );
  }

  // ---- kill and exit -----------------------------------------------------------------

  #stop(): Promise<ExitStatus> {
    this.#killing ??= this.#kill();
    return this.#killing;
  }

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
    const grace = this.#r.killGrace;
    if (proc instanceof AttachedProcess) proc.watch();
    if (!proc.hasExited) {
      const control = this.#conn?.control;
      if (control && !control.closed) {
        // A plugin that answers quit exits by itself; one that does not gets SIGKILL below.
        // Its stdin closes once quit is answered or refused (a plugin without quit stops on
        // that EOF), not at once: else it would stop on "the host is gone" first.
        const closeStdin = () => proc.closeStdin();
        control
          .request(ControlMethod.Quit, {}, { timeout: grace || 1 })
          .then(closeStdin, closeStdin);
      } else {
        proc.closeStdin();
      }
      const graceful = await exitWithin(proc, grace);
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
    // Never touch the socket of a process that is not verifiably this plugin; and only the
    // directory this host (or the host that started it) made, with its known entries.
    const dir = this.#socketDir;
    if (!dir || !this.#process?.owned) return;
    if (!dir.remove(this.#handshake?.address)) {
      debug('%s: left %s: the plugin put something else there', this.name, dir.path);
    }
  }
}

/** The exit status if the process exits within `ms`, else undefined. */
async function exitWithin(proc: ProcessHandle, ms: number): Promise<ExitStatus | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const status = await Promise.race([
    proc.exited,
    new Promise<undefined>((r) => {
      timer = setTimeout(() => r(undefined), ms);
    }),
  ]);
  clearTimeout(timer);
  return status;
}
