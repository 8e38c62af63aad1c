// One process of a managed plugin: its PluginClient, the calls in flight on it, and the
// clients dispensed from it. A hot upgrade has two instances of a plugin for a while.
import {
  type ExitStatus,
  type HandshakeConfig,
  type LogRecord,
  type Plugin,
  PluginClient,
  type PluginContext,
  type PluginInfoResponse as PluginInfo,
  type PluginSet,
  type RpcPeer,
} from '@plugwire/core';
import { createSandbox, type Sandbox } from '@plugwire/sandbox';
import { sandboxOptions } from './sandbox.js';
import type { PreparedPlugin } from './sources.js';

/** What every dispense of a plugin interface gives the manager: the raw peer and context. */
interface Binding {
  peer: RpcPeer;
  ctx: PluginContext;
}

export interface InstanceOptions {
  config: unknown;
  env: Record<string, string> | undefined;
  unixSocketDir: string | undefined;
  killGrace: number | undefined;
  startTimeout: number | undefined;
  handshake: HandshakeConfig | undefined;
  log: (record: LogRecord) => void;
}

/** Lines of stderr kept to quote when the process exits unexpectedly. */
const STDERR_TAIL = 20;

export class Instance {
  readonly client: PluginClient;
  readonly prepared: PreparedPlugin;
  /** Set when the manager stops this process on purpose: its exit is no crash. */
  retiring = false;
  /** When it started serving (ms since the epoch). */
  startedAt: number | undefined;
  #inflight = 0;
  #onIdle: Array<() => void> = [];
  readonly #clients = new WeakMap<object, Promise<unknown>>();
  readonly #stderr: string[] = [];
  /** What the process runs under; undefined when the host cannot enforce the manifest's limits. */
  readonly sandbox: Sandbox | undefined;
  /** Why the sandbox could not be made (SandboxUnavailableError): start() fails with it. */
  readonly #sandboxError: Error | undefined;

  constructor(prepared: PreparedPlugin, o: InstanceOptions) {
    this.prepared = prepared;
    const m = prepared.manifest;
    // The host's plugin set is built from the manifest: each interface hands back its raw
    // peer, and the manager applies whichever definition a caller dispensed it with (so the
    // set does not have to be known before the process starts).
    const set: PluginSet = {};
    for (const name of Object.keys(m.plugins)) {
      set[name] = { name, client: (peer: RpcPeer, ctx: PluginContext): Binding => ({ peer, ctx }) };
    }
    const versionedPlugins: Record<number, PluginSet> = {};
    for (const v of m.protocolVersions) versionedPlugins[v] = set;
    // Every plugin runs in a sandbox: at least the environment allowlist (DEFAULT_PLUGIN_ENV
    // plus the manifest's sandbox.env), and the manifest's limits.
    try {
      this.sandbox = createSandbox(
        {
          name: m.name,
          command: prepared.command,
          args: prepared.args,
          cwd: prepared.dir,
          env: o.env ?? {},
        },
        {
          ...sandboxOptions(m.sandbox, prepared.dir),
          onEvent: (e) =>
            o.log({
              level: 'warn',
              message: `sandbox: ${e.message}`,
              fields: { kind: e.kind },
              structured: false,
              plugin: e.plugin,
            }),
        },
      );
    } catch (err) {
      this.#sandboxError = err as Error;
    }
    this.client = new PluginClient({
      name: m.name,
      command: prepared.command,
      args: prepared.args,
      cwd: prepared.dir,
      versionedPlugins,
      config: o.config,
      ...(o.env ? { env: o.env } : {}),
      ...(this.sandbox ? this.sandbox.clientOptions() : {}),
      ...(o.unixSocketDir ? { unixSocketDir: o.unixSocketDir } : {}),
      ...(o.killGrace !== undefined ? { killGrace: o.killGrace } : {}),
      ...(o.startTimeout !== undefined ? { startTimeout: o.startTimeout } : {}),
      ...(o.handshake ? { handshake: o.handshake } : {}),
      logger: o.log,
      stdout: (line) =>
        o.log({
          level: 'info',
          message: line,
          fields: { stream: 'stdout' },
          structured: false,
          plugin: m.name,
        }),
      stderr: (line) => {
        this.#stderr.push(line);
        if (this.#stderr.length > STDERR_TAIL) this.#stderr.shift();
      },
    });
  }

  get pid(): number | undefined {
    return this.client.pid;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** The last lines the process wrote to stderr. */
  get stderrTail(): readonly string[] {
    return this.#stderr;
  }

  async start(): Promise<void> {
    // Checked here, at each start, not only at load: the start may come much later.
    await this.prepared.verify?.();
    if (this.#sandboxError) throw this.#sandboxError;
    await this.client.start();
    this.startedAt = Date.now();
  }

  /** A call begins on this instance. */
  enter(): void {
    this.#inflight++;
  }

  /** A call on this instance has settled. */
  leave(): void {
    if (--this.#inflight === 0) {
      const waiting = this.#onIdle;
      this.#onIdle = [];
      for (const fn of waiting) fn();
    }
  }

  /** Resolves when no call is in flight, or after `timeout` ms (false then). */
  drain(timeout: number): Promise<boolean> {
    if (this.#inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        resolve(idle);
      };
      const timer = setTimeout(() => {
        this.#onIdle = this.#onIdle.filter((f) => f !== onIdle);
        done(false);
      }, timeout);
      const onIdle = () => done(true);
      this.#onIdle.push(onIdle);
    });
  }

  /**
   * The client of interface `def.name` built by `def` (its `client()`, or the raw RPC peer
   * for a definition without one); one per definition for the life of the process.
   */
  bind<T>(def: Plugin<T> & { readonly name: string }): Promise<T> {
    let p = this.#clients.get(def) as Promise<T> | undefined;
    if (!p) {
      p = this.client
        .dispense<Binding>(def.name)
        .then(({ peer, ctx }) => (def.client ? def.client(peer, ctx) : (peer as unknown as T)));
      this.#clients.set(def, p);
      p.catch(() => this.#clients.delete(def));
    }
    return p;
  }

  info(): Promise<PluginInfo> {
    return this.client.info();
  }

  #reported: Promise<PluginInfo | undefined> | undefined;

  /**
   * The methods of interface `name` as the process reports them (`plugwire/info`, asked once
   * per process), or undefined when it does not say.
   */
  async reportedMethods(name: string): Promise<readonly string[] | undefined> {
    this.#reported ??= this.client.info().catch(() => undefined);
    const methods = (await this.#reported)?.methods;
    return methods && Object.hasOwn(methods, name) ? (methods[name] ?? undefined) : undefined;
  }

  kill(): Promise<ExitStatus> {
    this.retiring = true;
    return this.client.kill();
  }
}
