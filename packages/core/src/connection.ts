import type { Duplex } from 'node:stream';
import {
  createClientSession,
  createServerSession,
  MuxBroker,
  type Session,
  type SessionOptions,
} from '@plugwire/mux';
import {
  type Codec,
  ErrorCodes,
  ReceiveBudget,
  RpcError,
  RpcPeer,
  type RpcPeerOptions,
  defaults as rpcDefaults,
} from '@plugwire/rpc';
import { ControlMethod, CoreErrorCode } from './constants.js';
import { UnknownPluginError } from './errors.js';
import type { Plugin, PluginContext, PluginSet } from './plugin.js';

// One host↔plugin connection above the transport: the yamux session, the broker, the control
// channel and dispensing. The same code runs over a socket to a plugin process and over an
// in-memory pair in one process (the test harness), so tests of the latter cover the former.

/**
 * The RPC peers of one connection share one receive budget: a remote that starts a large
 * message on every stream and never finishes them holds at most this much of our memory,
 * not maxMessageSize per stream. Two messages of the largest size may arrive at once.
 */
function receiveBudget(maxMessageSize: number | undefined): ReceiveBudget {
  return new ReceiveBudget(2 * (maxMessageSize || rpcDefaults.maxMessageSize));
}

/** What both ends of a connection agreed on. */
export interface ConnectionParams {
  /** The plugin set of the negotiated version. */
  plugins: PluginSet;
  protocolVersion: number;
  codec: Codec;
  /** Label for debug logs. */
  name: string;
  brokerTimeout: number;
  maxMessageSize?: number | undefined;
  mux?: SessionOptions | undefined;
}

/**
 * The plugin of that name in `set`: an own property only, so that a name such as
 * `constructor`, `toString` or `__proto__` never finds what every object inherits.
 */
function pluginByName(set: PluginSet, name: string): Plugin<unknown> | undefined {
  return Object.hasOwn(set, name) ? set[name] : undefined;
}

/** The host end: opens the control stream, dispenses plugins. */
export class HostConnection {
  readonly session: Session;
  readonly broker: MuxBroker;
  readonly control: RpcPeer;
  readonly #p: ConnectionParams;
  readonly #peerOptions: RpcPeerOptions;
  readonly #dispensed = new Map<string, Promise<unknown>>();

  /**
   * @param connectionLost maps the loss of the connection to the error pending calls get
   *   (the process layer waits for the exit status there).
   */
  constructor(
    conn: Duplex,
    params: ConnectionParams,
    connectionLost?: (err: Error) => Error | Promise<Error>,
  ) {
    this.#p = params;
    this.session = createClientSession(conn, { name: `host:${params.name}`, ...params.mux });
    this.broker = new MuxBroker(this.session, { timeout: params.brokerTimeout });
    this.broker.run();
    this.#peerOptions = {
      codec: params.codec,
      ...(params.maxMessageSize ? { maxMessageSize: params.maxMessageSize } : {}),
      ...(connectionLost ? { connectionLost } : {}),
      receiveBudget: receiveBudget(params.maxMessageSize),
    };
    // The first stream the host opens is the control channel.
    this.control = this.peer(this.session.openStream(), 'control');
  }

  /** An RPC peer on a stream to the plugin. */
  peer(stream: Duplex, label: string): RpcPeer {
    return new RpcPeer(stream, { ...this.#peerOptions, name: `${this.#p.name}:${label}` });
  }

  /** The client of plugin `name`; the same one for every call with that name. */
  dispense(name: string): Promise<unknown> {
    let p = this.#dispensed.get(name);
    if (!p) {
      p = this.#dispense(name);
      this.#dispensed.set(name, p);
      p.catch(() => this.#dispensed.delete(name));
    }
    return p;
  }

  async #dispense(name: string): Promise<unknown> {
    const plugin = pluginByName(this.#p.plugins, name);
    if (!plugin) throw new UnknownPluginError(name, Object.keys(this.#p.plugins), 'host');
    let id: number;
    try {
      ({ id } = await this.control.request<{ id: number }>(ControlMethod.Dispense, { name }));
    } catch (err) {
      if (err instanceof RpcError && err.code === CoreErrorCode.UnknownPlugin) {
        const known = (err.data as { known?: string[] } | undefined)?.known ?? [];
        throw new UnknownPluginError(name, known, 'plugin');
      }
      throw err;
    }
    const stream = await this.broker.dial(id);
    const peer = this.peer(stream, name);
    const ctx: PluginContext = {
      name,
      broker: this.broker,
      protocolVersion: this.#p.protocolVersion,
      codec: this.#p.codec,
      side: 'host',
    };
    return plugin.client ? plugin.client(peer, ctx) : peer;
  }

  /**
   * Sends the host's configuration; resolves when the plugin's init hook has run. A plugin
   * that has no such method (another implementation) is fine.
   */
  async init(config: unknown): Promise<void> {
    try {
      await this.control.request(ControlMethod.Init, { config: config ?? null });
    } catch (err) {
      if (err instanceof RpcError && err.code === ErrorCodes.MethodNotFound) return;
      throw err;
    }
  }

  /** Round trip over the control channel, in milliseconds. */
  async ping(): Promise<number> {
    const t = performance.now();
    await this.control.request(ControlMethod.Ping, {});
    return performance.now() - t;
  }
}

export interface PluginConnectionOptions extends ConnectionParams {
  exposeStack?: boolean | undefined;
  /** Runs with the host's config before the host dispenses anything. */
  init?: ((config: unknown) => void | Promise<void>) | undefined;
  /** Runs after `init`, in the same control call. */
  start?: (() => void | Promise<void>) | undefined;
  /** Called when the host asks to quit, after the answer is on its way. */
  onQuit: () => void;
  /** Logs a plugin's server() failing. */
  onError: (message: string, err: Error) => void;
}

/**
 * The plugin end: the first stream the host opens is the control channel; dispense serves a
 * plugin on a fresh broker stream; every later stream goes to the broker.
 */
export function servePluginConnection(conn: Duplex, o: PluginConnectionOptions): Session {
  const session = createServerSession(conn, { name: `plugin:${o.name}`, ...o.mux });
  const broker = new MuxBroker(session, { timeout: o.brokerTimeout });
  const peerOptions: RpcPeerOptions = {
    codec: o.codec,
    exposeStack: o.exposeStack ?? false,
    ...(o.maxMessageSize ? { maxMessageSize: o.maxMessageSize } : {}),
    receiveBudget: receiveBudget(o.maxMessageSize),
  };
  let control: RpcPeer | undefined;
  session.on('stream', (stream) => {
    if (control) {
      broker.handleStream(stream);
      return;
    }
    control = new RpcPeer(stream, { ...peerOptions, name: `${o.name}:control` });
    control.handle(ControlMethod.Ping, () => ({}));
    control.handle(ControlMethod.Init, async (params: { config?: unknown }) => {
      await o.init?.(params?.config ?? null);
      await o.start?.();
      return {};
    });
    control.handle(ControlMethod.Info, () => ({
      pid: process.pid,
      protocolVersion: o.protocolVersion,
      codec: o.codec.name,
      plugins: Object.keys(o.plugins),
      methods: Object.fromEntries(
        Object.entries(o.plugins).map(([name, p]) => [name, p.methods ? [...p.methods] : null]),
      ),
    }));
    control.handle(ControlMethod.Quit, () => {
      // Answer first; stop once the answer is on its way.
      setImmediate(o.onQuit);
      return {};
    });
    control.handle(ControlMethod.Dispense, (params: { name?: unknown }) => {
      const name = typeof params?.name === 'string' ? params.name : '';
      const plugin = pluginByName(o.plugins, name);
      if (!plugin) {
        throw new RpcError(CoreErrorCode.UnknownPlugin, `unknown plugin "${name}"`, {
          known: Object.keys(o.plugins),
        });
      }
      const id = broker.nextId();
      broker
        .accept(id)
        .then((stream) => {
          const peer = new RpcPeer(stream, { ...peerOptions, name: `${o.name}:${name}` });
          const ctx: PluginContext = {
            name,
            broker,
            protocolVersion: o.protocolVersion,
            codec: o.codec,
            side: 'plugin',
          };
          return plugin.server?.(peer, ctx);
        })
        .catch((err: Error) => o.onError(`serving plugin "${name}" failed`, err));
      return { id };
    });
  });
  return session;
}
