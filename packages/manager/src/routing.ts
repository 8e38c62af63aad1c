// Handles and call routing: dispense() gives an object whose methods route each call to the
// plugin's current process (looked up per call, so restarts, upgrades and watch-mode reloads
// are followed), counted in the metrics, failing fast (or waiting) while it restarts.
import { type Plugin, type RpcPeer, UnknownPluginError } from '@plugwire/core';
import { type IdleTracker, type Sleeper, sleeperOf } from './activation.js';
import {
  checkDispenseOptions,
  type DispenseOptions,
  type ResolvedManagerOptions,
} from './config.js';
import { satisfies } from './discovery.js';
import { PluginNotFoundError, PluginUnavailableError, VersionMismatchError } from './errors.js';
import type { Instance } from './instance.js';
import type { ManagedPlugin } from './managed-plugin.js';
import type { Metrics } from './metrics.js';

/** A plugin definition as dispense() takes it (an SDK definePlugin() result, or `{ name }`). */
export type Def<T> = Plugin<T> & {
  readonly name: string;
  readonly methods?: readonly string[] | undefined;
};

/** What the router needs from its manager. */
export interface RouterContext {
  /** The plugin loaded under `name` now, if any. */
  plugin(name: string): ManagedPlugin | undefined;
  /** The names loaded now (for PluginNotFoundError). */
  names(): string[];
  metrics: Metrics;
  options: Pick<ResolvedManagerOptions, 'whileRestarting' | 'waitTimeout'>;
  /** True once the manager is closed: calls through old handles are refused. */
  closed(): boolean;
  /** Start on demand, stop when idle (the manifest's activation). */
  idle: IdleTracker;
}

export class CallRouter {
  readonly #ctx: RouterContext;
  /** The `{ name }` definitions of raw calls, one per interface (Instance caches by definition). */
  readonly #rawDefs = new Map<string, Def<RpcPeer>>();

  constructor(ctx: RouterContext) {
    this.#ctx = ctx;
  }

  /** A handle of interface `def` of plugin `p` (see PluginManager.dispense). */
  async dispense<T>(
    p: ManagedPlugin,
    range: string | undefined,
    def: Def<T>,
    options: DispenseOptions,
  ): Promise<T> {
    checkDispenseOptions(options);
    const interfaces = p.prepared.manifest.plugins;
    if (!Object.hasOwn(interfaces, def.name))
      throw new UnknownPluginError(def.name, Object.keys(interfaces), 'plugin');
    if (p.state === 'stopped') await p.start();
    const methods = def.methods ?? interfaces[def.name]?.methods;
    const call =
      (method: string) =>
      (...args: unknown[]) =>
        this.#invoke<T, unknown>(p.name, range, def, method, methods, options, (client) => {
          const fn = (client as Record<string, unknown>)[method];
          if (typeof fn !== 'function')
            throw new TypeError(`${def.name} has no method "${method}"`);
          return fn.apply(client, args);
        });
    if (methods) return Object.fromEntries(methods.map((m) => [m, call(m)])) as T;
    return new Proxy({} as object, {
      // `then` must stay undefined, or `await handle` would treat the handle as a promise.
      get: (_, prop) =>
        typeof prop === 'string' && prop !== 'then' && prop !== 'toJSON' ? call(prop) : undefined,
    }) as T;
  }

  /** A raw JSON-RPC call (see PluginManager.call). */
  async call(
    p: ManagedPlugin,
    range: string | undefined,
    method: string,
    args: unknown[],
    options: DispenseOptions & { interface?: string },
  ): Promise<unknown> {
    checkDispenseOptions(options);
    const interfaces = Object.keys(p.prepared.manifest.plugins);
    const iface = options.interface ?? (interfaces.length === 1 ? interfaces[0]! : undefined);
    if (!iface) {
      throw new TypeError(
        `plugin "${p.name}" serves several interfaces (${interfaces.join(', ')}): name one`,
      );
    }
    if (!interfaces.includes(iface)) throw new UnknownPluginError(iface, interfaces, 'plugin');
    if (p.state === 'stopped') await p.start();
    let def = this.#rawDefs.get(iface);
    if (!def) {
      def = { name: iface };
      this.#rawDefs.set(iface, def);
    }
    const declared = p.prepared.manifest.plugins[iface]?.methods;
    return this.#invoke(p.name, range, def, method, declared, options, (peer) =>
      peer.request(method, args),
    );
  }

  async #invoke<T, R>(
    name: string,
    range: string | undefined,
    def: Def<T>,
    method: string,
    declared: readonly string[] | undefined,
    options: DispenseOptions,
    fn: (client: T) => Promise<R> | R,
  ): Promise<R> {
    const end = this.#ctx.metrics.startCall(name);
    let inst: Instance | undefined;
    // Whether `method` is one the plugin has: only those get their own metrics label.
    let known = declared?.includes(method) ?? false;
    let idle: Sleeper | undefined;
    try {
      // Looked up per call: watch mode may have replaced the plugin since dispense().
      if (this.#ctx.closed())
        throw new PluginUnavailableError(name, 'stopped', 'the manager is closed');
      const p = this.#ctx.plugin(name);
      if (!p) throw new PluginNotFoundError(name, this.#ctx.names());
      if (!satisfies(p.version, range)) throw new VersionMismatchError(name, range!, [p.version]);
      idle = sleeperOf(p);
      this.#ctx.idle.enter(idle);
      // A lazy or idle-stopped plugin starts for this call (after a stop in progress ends);
      // never once the manager is closing.
      if (!this.#ctx.closed() && this.#ctx.idle.wakes(idle)) await p.start();
      inst = await p.acquire(
        options.whileRestarting ?? this.#ctx.options.whileRestarting,
        options.waitTimeout ?? this.#ctx.options.waitTimeout,
      );
      if (!declared) known = (await inst.reportedMethods(def.name))?.includes(method) ?? false;
      const client = await inst.bind(def);
      const result = await fn(client);
      end(known ? method : undefined, true);
      return result;
    } catch (err) {
      end(known ? method : undefined, false);
      throw err;
    } finally {
      inst?.leave();
      if (idle) this.#ctx.idle.leave(idle);
    }
  }
}
