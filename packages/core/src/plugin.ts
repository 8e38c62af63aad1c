import type { MuxBroker } from '@plugwire/mux';
import type { Codec, RpcPeer } from '@plugwire/rpc';

/** What a plugin's server or client half gets besides its RPC peer. */
export interface PluginContext {
  /** The plugin name it was dispensed as. */
  readonly name: string;
  /** Extra streams by id: callbacks to the other side, byte streams. */
  readonly broker: MuxBroker;
  /** The negotiated application protocol version. */
  readonly protocolVersion: number;
  /** The negotiated codec. */
  readonly codec: Codec;
  /** Which process this half runs in. */
  readonly side: 'host' | 'plugin';
}

/**
 * One plugin interface, as in go-plugin: the plugin process runs `server` to serve the
 * implementation on a fresh RPC peer (one broker stream per dispense); the host runs
 * `client` to turn its peer into what `dispense()` returns. `@plugwire/sdk` builds both from
 * a typed definition; write them by hand for full control.
 */
export interface Plugin<TClient = RpcPeer> {
  /** The name it is dispensed as, so that `dispense(plugin)` can find it. */
  readonly name?: string;
  /**
   * The remote method names, when known: the plugin reports them in `plugwire/info` so
   * that tools (`plugwire inspect`) can list them without calling anything.
   */
  readonly methods?: readonly string[] | undefined;
  /** Plugin side: register handlers on `peer`. */
  server?(peer: RpcPeer, ctx: PluginContext): void | Promise<void>;
  /** Host side: what dispense() returns. Without it, dispense() returns the peer itself. */
  client?(peer: RpcPeer, ctx: PluginContext): TClient | Promise<TClient>;
}

/** Plugins by the name they are dispensed as. */
export type PluginSet = Record<string, Plugin<any>>;

/**
 * The plugin sets of a host or plugin: one set for a single protocol version, or one set
 * per version (the highest version both sides have is used).
 */
export function pluginSets(
  options: {
    plugins?: PluginSet | undefined;
    versionedPlugins?: Record<number, PluginSet> | undefined;
  },
  protocolVersion: number,
): Map<number, PluginSet> {
  const sets = new Map<number, PluginSet>();
  if (options.versionedPlugins) {
    for (const [v, set] of Object.entries(options.versionedPlugins)) {
      if (!/^\d+$/.test(v))
        throw new TypeError(`versionedPlugins key "${v}" is not a version number`);
      sets.set(Number(v), set);
    }
    if (options.plugins) {
      throw new TypeError('give either plugins (one version) or versionedPlugins, not both');
    }
  } else {
    sets.set(protocolVersion, options.plugins ?? {});
  }
  if (sets.size === 0) throw new TypeError('versionedPlugins is empty');
  return sets;
}

/** What dispense() takes: a plugin name, or a plugin object that has its name. */
export type Dispensable<T> = string | (Plugin<T> & { readonly name: string });

export function dispenseName(p: Dispensable<unknown>): string {
  if (typeof p === 'string') return p;
  if (typeof p?.name !== 'string')
    throw new TypeError('dispense() needs a plugin name or a plugin with a name');
  return p.name;
}
