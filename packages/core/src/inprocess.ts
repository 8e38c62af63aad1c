import { duplexPair, type MuxBroker } from '@plugwire/mux';
import { codecByName, type RpcPeer } from '@plugwire/rpc';
import { defaults } from './config.js';
import { HostConnection, servePluginConnection } from './connection.js';
import { negotiateVersion } from './handshake.js';
import {
  type Dispensable,
  dispenseName,
  type Plugin,
  type PluginSet,
  pluginSets,
} from './plugin.js';

/** Options of connectInProcess(): the two sides' plugins, as given to serve() and PluginClient. */
export interface InProcessOptions {
  /** The plugin side's plugins (with their implementations). */
  server: { plugins?: PluginSet; versionedPlugins?: Record<number, PluginSet> };
  /** The host side's plugins. @default the server's (a definePlugin() object serves both) */
  client?: { plugins?: PluginSet; versionedPlugins?: Record<number, PluginSet> };
  /** @default 'msgpack' */
  codec?: 'msgpack' | 'json';
  /** Include handler stacks in error responses. @default true (it is a test) */
  exposeStack?: boolean;
  /** @default 5_000 (ms) */
  brokerTimeout?: number;
  /** The plugin side's init hook, as ServeOptions.init. */
  init?: (config: unknown) => void | Promise<void>;
  /** Sent to `init`, as PluginClientOptions.config. */
  config?: unknown;
}

/** A host connected to plugin servers in the same process. */
export interface InProcessConnection {
  readonly protocolVersion: number;
  readonly codec: string;
  readonly broker: MuxBroker;
  /** Resolves when the plugin's init hook has run with the config. */
  readonly ready: Promise<void>;
  dispense<T = RpcPeer>(name: string): Promise<T>;
  dispense<T>(plugin: Plugin<T> & { readonly name: string }): Promise<T>;
  ping(): Promise<number>;
  /** Ends both sides; pending calls reject. */
  close(): Promise<void>;
}

/**
 * Runs plugin servers and a host client over an in-memory duplex pair: no process, no
 * socket, but the same session, broker, control channel and dispense code as a real plugin
 * (go-plugin's TestPluginRPCConn). For unit tests of plugins.
 */
export function connectInProcess(options: InProcessOptions): InProcessConnection {
  const serverSets = pluginSets(options.server, 1);
  const clientSets = pluginSets(options.client ?? options.server, 1);
  const version = negotiateVersion([...clientSets.keys()], [...serverSets.keys()]);
  if (version === undefined) {
    throw new Error(
      `no common protocol version: client [${[...clientSets.keys()]}], server [${[...serverSets.keys()]}]`,
    );
  }
  const codec = codecByName(options.codec ?? 'msgpack');
  const brokerTimeout = options.brokerTimeout ?? defaults.brokerTimeout;
  const [hostEnd, pluginEnd] = duplexPair();
  const pluginSession = servePluginConnection(pluginEnd, {
    plugins: serverSets.get(version)!,
    protocolVersion: version,
    codec,
    name: 'in-process',
    brokerTimeout,
    exposeStack: options.exposeStack ?? true,
    init: options.init,
    onQuit: () => pluginSession.destroy(),
    onError: (message, err) => {
      throw new Error(`${message}: ${err.message}`, { cause: err });
    },
  });
  const host = new HostConnection(hostEnd, {
    plugins: clientSets.get(version)!,
    protocolVersion: version,
    codec,
    name: 'in-process',
    brokerTimeout,
  });
  const ready = host.init(options.config);
  ready.catch(() => {}); // surfaced by dispense() too
  return {
    ready,
    protocolVersion: version,
    codec: codec.name,
    broker: host.broker,
    dispense: async <T>(plugin: Dispensable<T>) => {
      await ready;
      return (await host.dispense(dispenseName(plugin))) as T;
    },
    ping: () => host.ping(),
    async close() {
      host.session.destroy();
      pluginSession.destroy();
      await Promise.all([host.session.closed, pluginSession.closed]);
    },
  };
}
