// Watch-mode reconcile: what a change in one plugin folder means — a new plugin to load, a
// removed one to unload, a changed one to upgrade in place — done one change at a time per
// folder, each outcome reported as a `watch` event.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ManagedPlugin } from './managed-plugin.js';
import { MANIFEST_FILE } from './manifest.js';
import type { PreparedPlugin } from './sources.js';

/** What watch mode did about a change in a plugin folder. */
export interface WatchEvent {
  folder: string;
  action: 'loaded' | 'unloaded' | 'upgraded' | 'unchanged' | 'error';
  plugin: string | undefined;
  error?: Error;
}

/** What the reconciler needs from its manager. */
export interface ReconcileContext {
  /** The plugin loaded from this folder (a `path` source), if any. */
  loadedFrom(folder: string): ManagedPlugin | undefined;
  /** Loads the plugin of a folder; resolves with its name. */
  load(folder: string): Promise<string>;
  unload(name: string): Promise<void>;
  /** Prepares the plugin's source again (what would run now). */
  prepare(p: ManagedPlugin): Promise<PreparedPlugin>;
  /** Throws when `next` does not fit the plugin's settings (version range, config). */
  checkFits(p: ManagedPlugin, next: PreparedPlugin): void;
  report(event: WatchEvent): void;
  closed(): boolean;
}

export class Reconciler {
  readonly #ctx: ReconcileContext;
  // Changes of one folder are handled one at a time, in order.
  readonly #running = new Map<string, Promise<void>>();

  constructor(ctx: ReconcileContext) {
    this.#ctx = ctx;
  }

  /** Handles a change of `folder` after the ones before it. */
  schedule(folder: string): Promise<void> {
    const prev = this.#running.get(folder) ?? Promise.resolve();
    const next = prev.then(() => this.#now(folder));
    this.#running.set(folder, next);
    void next.finally(() => {
      if (this.#running.get(folder) === next) this.#running.delete(folder);
    });
    return next;
  }

  /** Resolves when every change under way has been handled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }

  async #now(folder: string): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.closed()) return;
    const loaded = ctx.loadedFrom(folder);
    const report = (action: WatchEvent['action'], plugin: string | undefined, error?: Error) =>
      ctx.report({ folder, action, plugin, ...(error ? { error } : {}) });
    try {
      if (!existsSync(join(folder, MANIFEST_FILE))) {
        if (loaded) {
          await ctx.unload(loaded.name);
          report('unloaded', loaded.name);
        }
        return;
      }
      if (!loaded) {
        report('loaded', await ctx.load(folder));
        return;
      }
      const next = await ctx.prepare(loaded);
      if (next.manifest.name !== loaded.name) {
        await ctx.unload(loaded.name);
        report('loaded', await ctx.load(folder));
        return;
      }
      // A crashed or failed plugin is upgraded even when nothing changed: the edit (a
      // `touch`) is how a user says "try again".
      const down = loaded.state === 'failed' || loaded.state === 'crashed';
      if (next.fingerprint === loaded.prepared.fingerprint && !down) {
        report('unchanged', loaded.name);
        return;
      }
      ctx.checkFits(loaded, next);
      await loaded.upgrade(next);
      report('upgraded', loaded.name);
    } catch (err) {
      report('error', loaded?.name, err as Error);
    }
  }
}
