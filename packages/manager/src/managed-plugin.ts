// One plugin under management: its state (moved only by #setState), its current process,
// its supervisor's restarts, and the switch of a hot upgrade. (Named apart from core's
// cleanup registry: this is the manager's view of one plugin.)
import {
  type ExitStatus,
  type HandshakeConfig,
  type LogRecord,
  PluginExitedError,
} from '@plugwire/core';
import { PluginUnavailableError, UpgradeError } from './errors.js';
import { Instance } from './instance.js';
import type { Origin, PreparedPlugin, SourceSpec } from './sources.js';
import type { PluginState } from './state.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';

/** What the host says about one plugin (config file entry, or ManagerOptions.plugins). */
export interface PluginSettings {
  /** Where it comes from; without it, the plugin is looked up by name in the plugin dirs. */
  source?: SourceSpec | string;
  /** A semver range the plugin's version must satisfy (`^2`, `>=1.4 <3`). */
  version?: string;
  /** Sent to the plugin's init(config) hook when it starts; checked against its configSchema. */
  config?: unknown;
  /** Extra environment variables for the plugin process. */
  env?: Record<string, string>;
  /** `false` leaves it out. @default true */
  enabled?: boolean;
  /**
   * Let installing this plugin run code of its source: npm's install scripts of a package
   * or git source (and of their dependencies), and a git source's `build` script. Off, a
   * load (even `plugwire list`) runs no code of the plugin; turn it on only for sources you
   * trust as much as the host. @default false
   */
  allowScripts?: boolean;
}

/** What list() and get() tell about a plugin. */
export interface PluginInfo {
  name: string;
  version: string;
  description: string | undefined;
  state: PluginState;
  /** Process id while a process runs. */
  pid: number | undefined;
  /** Milliseconds since the current process started serving. */
  uptimeMs: number | undefined;
  /** Restarts of the process: after crashes, and restart(). */
  restarts: number;
  /** Why it last crashed or failed. */
  lastError: { message: string; code: string | undefined } | undefined;
  /** Exit code of the last process that exited (null when a signal ended it). */
  exitCode: number | null | undefined;
  exitSignal: string | null | undefined;
  /** When the supervisor restarts it next (ms since the epoch), while crashed. */
  retryAt: number | undefined;
  /** The plugin directory. */
  dir: string;
  origin: Origin;
  /** The plugin interfaces it serves. */
  interfaces: string[];
  protocolVersions: number[];
  /** Calls in flight. */
  inflight: number;
}

/** Everything a managed plugin needs from its manager. */
export interface ManagedContext {
  supervisor: SupervisorOptions;
  drainTimeout: number;
  killGrace: number | undefined;
  startTimeout: number | undefined;
  unixSocketDir: string | undefined;
  env: Record<string, string> | undefined;
  handshake: HandshakeConfig | undefined;
  stateChanged(plugin: ManagedPlugin, from: PluginState, to: PluginState): void;
  restarted(plugin: ManagedPlugin): void;
  upgraded(plugin: ManagedPlugin, from: PreparedPlugin, to: PreparedPlugin): void;
  log(record: LogRecord): void;
  warn(err: Error): void;
}

export class ManagedPlugin {
  readonly name: string;
  prepared: PreparedPlugin;
  /** The source it was loaded from (kept to reload and upgrade from the same place). */
  readonly spec: SourceSpec;
  settings: PluginSettings;
  readonly #ctx: ManagedContext;
  #state: PluginState = 'stopped';
  #current: Instance | undefined;
  /** Retired instances still finishing their calls. */
  readonly #retiring = new Set<Instance>();
  #restarts = 0;
  /** True from a crash the supervisor will restart until that restart has settled. */
  #restarting = false;
  #lastError: Error | undefined;
  /** How the last process ended; cleared when a new one runs. */
  #exit: ExitStatus | undefined;
  readonly #supervisor: Supervisor;
  #queue: Promise<unknown> = Promise.resolve();
  #waiters = new Set<() => void>();

  constructor(
    prepared: PreparedPlugin,
    spec: SourceSpec,
    settings: PluginSettings,
    ctx: ManagedContext,
  ) {
    this.name = prepared.manifest.name;
    this.prepared = prepared;
    this.spec = spec;
    this.settings = settings;
    this.#ctx = ctx;
    this.#supervisor = new Supervisor(ctx.supervisor);
  }

  get state(): PluginState {
    return this.#state;
  }

  get version(): string {
    return this.prepared.manifest.version;
  }

  get pid(): number | undefined {
    return this.#current?.pid;
  }

  info(): PluginInfo {
    const m = this.prepared.manifest;
    const cur = this.#current;
    const err = this.#lastError as (Error & { code?: unknown }) | undefined;
    return {
      name: this.name,
      version: m.version,
      description: m.description,
      state: this.#state,
      pid: cur?.pid,
      uptimeMs: cur?.startedAt ? Date.now() - cur.startedAt : undefined,
      restarts: this.#restarts,
      lastError: err
        ? { message: err.message, code: typeof err.code === 'string' ? err.code : undefined }
        : undefined,
      exitCode: this.#exit?.code,
      exitSignal: this.#exit?.signal,
      retryAt: this.#supervisor.retryAt,
      dir: this.prepared.dir,
      origin: this.prepared.origin,
      interfaces: Object.keys(m.plugins),
      protocolVersions: m.protocolVersions,
      inflight: (cur?.inflight ?? 0) + [...this.#retiring].reduce((n, i) => n + i.inflight, 0),
    };
  }

  /** The running process, for inspect(). */
  get current(): Instance | undefined {
    return this.#current;
  }

  // ---- operations (one at a time per plugin) -------------------------------------------

  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Starts the process; from `failed`, forgets the crash history first. */
  start(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#state === 'running' || this.#state === 'upgrading') return;
      this.#cancelRestart();
      this.#supervisor.reset();
      await this.#launch(false);
    });
  }

  /** Lets calls in flight finish (up to drainTimeout), then stops the process. */
  stop(): Promise<void> {
    return this.#enqueue(() => this.#stop());
  }

  /** Stops and starts again (a new process; counted as a restart). */
  restart(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#stop();
      this.#supervisor.reset();
      this.#restarts++;
      this.#ctx.restarted(this);
      await this.#launch(false);
    });
  }

  /**
   * Switches to `next`: starts it next to the running process, sends new calls to it, lets
   * calls in flight on the old one finish, then stops the old one. A stopped plugin just
   * takes `next` for its next start; a crashed or failed one is started on `next` at once
   * (the change may be its fix), its crash history forgotten.
   */
  upgrade(next: PreparedPlugin): Promise<void> {
    return this.#enqueue(async () => {
      const from = this.prepared;
      const old = this.#current;
      if (!old || this.#state !== 'running') {
        const down = this.#state === 'crashed' || this.#state === 'failed';
        this.prepared = next;
        if (down) {
          this.#cancelRestart();
          this.#supervisor.reset();
          try {
            await this.#launch(false);
          } catch (err) {
            throw new UpgradeError(this.name, (err as Error).message, {
              cause: err,
              nothingRuns: true,
            });
          }
        }
        this.#ctx.upgraded(this, from, next);
        return;
      }
      this.#setState('upgrading');
      const inst = this.#instance(next);
      try {
        await inst.start();
      } catch (err) {
        await inst.kill();
        if (this.#current) this.#setState('running');
        else this.#crashed(); // the old process died meanwhile: the supervisor takes over
        throw new UpgradeError(this.name, (err as Error).message, { cause: err });
      }
      this.prepared = next;
      this.#retire(old);
      this.#adopt(inst);
      // From here on new calls go to the new process.
      await this.#finish(old);
      this.#setState('running');
      this.#ctx.upgraded(this, from, next);
    });
  }

  /** Stops for good (unload, manager close). */
  dispose(): Promise<void> {
    return this.#enqueue(() => this.#stop());
  }

  // ---- calls -----------------------------------------------------------------------------

  /**
   * The instance to send a call to, already counted as in flight (the caller must leave()
   * it). While the plugin restarts: fails at once, or with `wait` waits up to `timeout`.
   */
  async acquire(policy: 'fail' | 'wait', timeout: number): Promise<Instance> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const s = this.#state;
      const cur = this.#current;
      if (cur && (s === 'running' || s === 'upgrading')) {
        cur.enter();
        return cur;
      }
      if (s === 'stopped' || s === 'stopping' || s === 'failed') {
        throw new PluginUnavailableError(this.name, s, this.#why(s), { cause: this.#lastError });
      }
      // starting, crashed, or upgrading after the old process died
      if (policy === 'fail' && (this.#restarting || s === 'crashed')) {
        const retryAt = this.#supervisor.retryAt;
        const when = retryAt ? ` in ${Math.max(0, retryAt - Date.now())} ms` : ' now';
        throw new PluginUnavailableError(
          this.name,
          s,
          `it crashed and restarts${when}; retry then, or dispense with { whileRestarting: 'wait' }`,
          { retryAt, cause: this.#lastError },
        );
      }
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.#changed(left))) {
        throw new PluginUnavailableError(
          this.name,
          this.#state,
          `still not running after waiting ${timeout} ms`,
          {
            cause: this.#lastError,
          },
        );
      }
    }
  }

  #why(s: PluginState): string {
    if (s === 'failed') {
      return `it crashed too often or could not start (${this.#lastError?.message ?? 'no error recorded'}); start() it again once fixed`;
    }
    if (s === 'stopping') return 'it is being stopped';
    return 'it is not started; start() it, or dispense() it (which starts it)';
  }

  /** Resolves true at the next state change, false after `ms`. */
  #changed(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        resolve(false);
      }, ms);
      this.#waiters.add(wake);
    });
  }

  // ---- internals -------------------------------------------------------------------------

  #setState(to: PluginState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#ctx.stateChanged(this, from, to);
    for (const wake of [...this.#waiters]) wake();
  }

  #instance(prepared: PreparedPlugin): Instance {
    return new Instance(prepared, {
      config: this.settings.config,
      env: { ...this.#ctx.env, ...this.settings.env },
      unixSocketDir: this.#ctx.unixSocketDir,
      killGrace: this.#ctx.killGrace,
      startTimeout: this.#ctx.startTimeout,
      handshake: this.#ctx.handshake,
      log: (r) => this.#ctx.log(r),
    });
  }

  /** Starts a process. A failed first start is `failed`; a failed restart counts as a crash. */
  async #launch(isRestart: boolean): Promise<void> {
    this.#restarting = isRestart;
    this.#setState('starting');
    const inst = this.#instance(this.prepared);
    try {
      await inst.start();
    } catch (err) {
      const status = await inst.kill();
      this.#lastError = err as Error;
      this.#exit = status;
      if (isRestart) {
        this.#crashed();
        return;
      }
      this.#restarting = false;
      this.#setState('failed');
      throw err;
    }
    this.#restarting = false;
    this.#exit = undefined;
    this.#adopt(inst);
    this.#setState('running');
  }

  #adopt(inst: Instance): void {
    this.#current = inst;
    inst.client.once('exit', (status) => this.#exited(inst, status));
  }

  #retire(inst: Instance): void {
    inst.retiring = true;
    this.#retiring.add(inst);
  }

  /** Lets a retired instance's calls finish, then stops it. */
  async #finish(inst: Instance): Promise<void> {
    const idle = await inst.drain(this.#ctx.drainTimeout);
    if (!idle) {
      this.#ctx.warn(
        new Error(
          `plugin "${this.name}": ${inst.inflight} call(s) still running after ${this.#ctx.drainTimeout} ms; stopping the old process anyway`,
        ),
      );
    }
    await inst.kill();
    this.#retiring.delete(inst);
  }

  #exited(inst: Instance, status: ExitStatus): void {
    if (inst.retiring || inst !== this.#current) return;
    if (inst.client.killRequested) {
      // Killed by someone else (core's cleanupClients() on a signal): stopped, not crashed.
      this.#current = undefined;
      this.#exit = status;
      this.#setState('stopped');
      return;
    }
    // Not asked to exit: a crash.
    this.#current = undefined;
    this.#exit = status;
    this.#lastError = new PluginExitedError(status, [...inst.stderrTail]);
    if (this.#state === 'upgrading') {
      // The upgrade in progress replaces it; calls wait for (or fail until) the new one.
      for (const wake of [...this.#waiters]) wake();
      return;
    }
    this.#crashed();
  }

  /** A crash: the supervisor restarts it after the backoff delay, or it is given up on. */
  #crashed(): void {
    const restart = this.#supervisor.crashed(() => {
      this.#restarts++;
      this.#ctx.restarted(this);
      this.#enqueue(() => this.#launch(true)).catch((err: Error) => this.#ctx.warn(err));
    });
    // retryAt (set by the supervisor above) is part of what the 'crashed' event tells.
    this.#restarting = restart;
    this.#setState('crashed');
    if (!restart) this.#setState('failed');
  }

  #cancelRestart(): void {
    this.#supervisor.cancel();
    this.#restarting = false;
  }

  async #stop(): Promise<void> {
    this.#cancelRestart();
    const inst = this.#current;
    if (!inst) {
      if (this.#state !== 'stopped') this.#setState('stopped');
      return;
    }
    this.#retire(inst);
    this.#setState('stopping');
    this.#current = undefined;
    await this.#finish(inst);
    this.#exit = inst.client.exitStatus;
    this.#setState('stopped');
  }
}
