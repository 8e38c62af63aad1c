import type { Plugin, PluginContext, RequestContext, RpcPeer } from '@plugwire/core';
import { type CallOptions, remoteObject, serveMethods } from './calls.js';
import { type CallContext, withCallContext } from './context.js';
import type { Wire } from './markers.js';
import { methodNameProblem, ownMethodNames } from './names.js';

type AnyFunction = (...args: any[]) => any;

/** A method as the caller sees it: same arguments, a Promise, and optional CallOptions last. */
export type RemoteMethod<F> = F extends (...args: infer A) => infer R
  ? ((...args: A) => Promise<Awaited<R>>) & ((...args: [...A, CallOptions]) => Promise<Awaited<R>>)
  : never;

/** The client side of interface `T`: every method is remote and returns a Promise. */
export type Remote<T> = {
  [K in keyof T as T[K] extends AnyFunction ? K : never]: RemoteMethod<T[K]>;
};

export interface DefinePluginOptions<T> {
  /**
   * The name it is dispensed as (`client.dispense(def)`): its key in the plugin sets of
   * host and plugin.
   */
  name: string;
  /**
   * The remote methods. The server serves exactly these, the client has exactly these, and
   * tools list them (`plugwire inspect`). Without it, the client forwards any valid method
   * name and the server serves the implementation's **own** methods: the own enumerable
   * function properties of a plain object; for a class instance, those and the methods its
   * class declares (not inherited ones: never Object.prototype's or EventEmitter's, nor a
   * base class's). Names JavaScript itself looks up (`then`, `toJSON`, `constructor`,
   * `__proto__`, `toString`…) are never methods.
   */
  methods?: ReadonlyArray<keyof T & string>;
}

/**
 * Both halves of a plugin interface. The definition is the host's plugin (its `client`
 * returns a typed `Remote<T>`); `implement(impl)` gives the plugin's, which serves `impl`.
 */
export interface PluginDefinition<T extends object> extends Plugin<Remote<T>> {
  readonly name: string;
  readonly methods: readonly string[] | undefined;
  /** The plugin side: serves `impl`'s methods to the host. */
  implement(impl: T): PluginDefinition<T>;
}

/**
 * What callContext() returns while a method runs. The request's AbortSignal is read from the
 * peer only when the method asks for it: the peer creates it on first read.
 */
class ServedCall implements CallContext {
  readonly #rctx: RequestContext;
  readonly method: string;
  readonly plugin: string;

  constructor(rctx: RequestContext, method: string, plugin: string) {
    this.#rctx = rctx;
    this.method = method;
    this.plugin = plugin;
  }

  get signal(): AbortSignal {
    return this.#rctx.signal;
  }
}

function wireOf(ctx: PluginContext): Wire {
  return { broker: ctx.broker, codec: ctx.codec, plugin: ctx.name };
}

/**
 * Defines a plugin interface once for both sides:
 *
 * ```ts
 * interface KV { get(key: string): Promise<Uint8Array | null>; put(key: string, v: Uint8Array): Promise<void> }
 * export const kv = definePlugin<KV>({ name: 'kv', methods: ['get', 'put'] });
 * // plugin:  serve({ plugins: { kv: kv.implement(new FileKV()) } })
 * // host:    const store = await client.dispense(kv)   // Remote<KV>
 * ```
 */
export function definePlugin<T extends object>(
  options: DefinePluginOptions<T>,
): PluginDefinition<T> {
  const methods = options.methods ? [...options.methods] : undefined;
  for (const m of methods ?? []) {
    const problem = methodNameProblem(m);
    if (problem) throw new TypeError(`definePlugin "${options.name}": ${problem}`);
  }
  const make = (impl: T | undefined): PluginDefinition<T> => {
    // The plugin side reports what it serves (plugwire/info): the declared methods, or the
    // implementation's own.
    const served = methods ?? (impl === undefined ? undefined : ownMethodNames(impl));
    const def: PluginDefinition<T> = {
      name: options.name,
      methods: served,
      implement: (i: T) => make(i),
      client(peer: RpcPeer, ctx: PluginContext): Remote<T> {
        return remoteObject(peer, methods, wireOf(ctx)) as Remote<T>;
      },
    };
    if (impl !== undefined) {
      const target = impl as Record<string, AnyFunction>;
      const names = served!;
      for (const m of names) {
        if (typeof target[m] !== 'function') {
          throw new TypeError(`the implementation has no method "${m}"`);
        }
      }
      def.server = (peer: RpcPeer, ctx: PluginContext) => {
        serveMethods(peer, target, names, wireOf(ctx), (method, args, rctx) =>
          withCallContext(new ServedCall(rctx, method, ctx.name), () =>
            target[method]!.apply(target, args),
          ),
        );
      };
    }
    return def;
  };
  return make(undefined);
}
