// What the control plane remembers of each plugin beyond the manager's own state: its last
// log lines and its recent state changes, both bounded rings fed by the manager's events.
import type { ManagerEvents, PluginManager, PluginState, StateChange } from '@plugwire/manager';
import { Ring } from './ring.js';

/** One log line of a plugin as the API gives it. */
export interface LogEntry {
  /** ms since the epoch, when the host received it. */
  time: number;
  plugin: string;
  level: string;
  message: string;
  /** `stderr` (hclog JSON or text) or `stdout`. */
  stream: 'stderr' | 'stdout';
  /** hclog fields, for structured lines. */
  fields?: Record<string, unknown>;
}

/** One state change as the API gives it. */
export interface StateEntry {
  time: number;
  from: PluginState;
  to: PluginState;
  pid: number | undefined;
  error: { message: string; code: string | undefined } | undefined;
}

// A log line longer than this is cut: one plugin printing a huge line must not make every
// event-stream client and the ring hold it.
const MAX_MESSAGE = 8 * 1024;

export class Records {
  readonly #logs = new Map<string, Ring<LogEntry>>();
  readonly #states = new Map<string, Ring<StateEntry>>();
  readonly #logLines: number;
  readonly #historyLength: number;

  constructor(logLines: number, historyLength: number) {
    this.#logLines = logLines;
    this.#historyLength = historyLength;
  }

  /** Feeds the rings from the manager's events; returns the function that stops it. */
  follow(
    manager: PluginManager,
    on: { log(e: LogEntry): void; state(plugin: string, e: StateEntry): void },
  ): () => void {
    const log = (rec: ManagerEvents['log'][0]) => {
      const stream = rec.fields?.stream === 'stdout' ? 'stdout' : 'stderr';
      const entry: LogEntry = {
        time: Date.now(),
        plugin: rec.plugin,
        level: rec.level,
        message:
          rec.message.length > MAX_MESSAGE ? `${rec.message.slice(0, MAX_MESSAGE)}…` : rec.message,
        stream,
        ...(rec.structured ? { fields: rec.fields } : {}),
      };
      this.#ring(this.#logs, rec.plugin, this.#logLines).push(entry);
      on.log(entry);
    };
    const state = (c: StateChange) => {
      const entry: StateEntry = {
        time: Date.now(),
        from: c.from,
        to: c.to,
        pid: c.info.pid,
        error: c.to === 'crashed' || c.to === 'failed' ? c.info.lastError : undefined,
      };
      this.#ring(this.#states, c.plugin, this.#historyLength).push(entry);
      on.state(c.plugin, entry);
    };
    const unloaded = (info: { name: string }) => {
      this.#logs.delete(info.name);
      this.#states.delete(info.name);
    };
    manager.on('log', log);
    manager.on('state', state);
    manager.on('unloaded', unloaded);
    return () => {
      manager.off('log', log);
      manager.off('state', state);
      manager.off('unloaded', unloaded);
    };
  }

  logs(plugin: string, n: number): LogEntry[] {
    return this.#logs.get(plugin)?.last(n) ?? [];
  }

  states(plugin: string): StateEntry[] {
    return this.#states.get(plugin)?.last() ?? [];
  }

  #ring<T>(map: Map<string, Ring<T>>, plugin: string, max: number): Ring<T> {
    let r = map.get(plugin);
    if (!r) {
      r = new Ring<T>(max);
      map.set(plugin, r);
    }
    return r;
  }
}
