// Per-plugin metrics: calls, errors and latency (counted where the manager routes calls),
// restarts, state, RSS and CPU; as Prometheus text (prom-client) and as JSON.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { sampleProcess } from './procstat.js';
import { PLUGIN_STATES, type PluginState } from './state.js';

/** Latency buckets in seconds: sub-millisecond RPCs up to slow ones. */
export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * The `method` label of calls to methods the plugin does not have (or beyond
 * MAX_METHOD_LABELS): a caller choosing method names must not grow the number of series.
 */
export const OTHER_METHOD_LABEL = '(other)';

/**
 * Most distinct `method` labels per plugin. Declared interfaces have tens of methods; a
 * manifest declaring thousands would otherwise make thousands of series per metric.
 */
export const MAX_METHOD_LABELS = 200;

/** The metrics of one plugin, as `manager.metrics()` gives them. */
export interface PluginMetrics {
  state: PluginState;
  pid: number | undefined;
  calls: number;
  errors: number;
  /** Call durations: count, sum, and cumulative counts per bucket (upper bound `le` in seconds). */
  latency: { count: number; sumSeconds: number; buckets: Array<{ le: number; count: number }> };
  restarts: number;
  rssBytes: number | undefined;
  cpuSeconds: number | undefined;
}

/** What the metrics need to know about the plugins at collection time. */
export interface MetricsSource {
  plugins(): Array<{ name: string; state: PluginState; pid: number | undefined }>;
}

export class Metrics {
  /** A registry of the manager's own (not prom-client's global one). */
  readonly registry = new Registry();
  readonly #calls: Counter<'plugin' | 'method'>;
  readonly #errors: Counter<'plugin' | 'method'>;
  readonly #latency: Histogram<'plugin' | 'method'>;
  readonly #restarts: Counter<'plugin'>;
  readonly #source: MetricsSource;
  // Totals per plugin for the JSON form (prom-client's values are per method).
  readonly #totals = new Map<string, { calls: number; errors: number; restarts: number }>();
  // CPU counted per process: a restart starts from zero, the counter keeps growing.
  readonly #cpuSeen = new Map<string, { pid: number; seconds: number }>();
  /** The method labels in use per plugin. */
  readonly #methods = new Map<string, Set<string>>();

  constructor(source: MetricsSource) {
    this.#source = source;
    const registers = [this.registry];
    this.#calls = new Counter({
      name: 'plugwire_plugin_calls_total',
      help: 'Calls routed to the plugin, by method',
      labelNames: ['plugin', 'method'],
      registers,
    });
    this.#errors = new Counter({
      name: 'plugwire_plugin_call_errors_total',
      help: 'Calls that failed (thrown by the plugin, plugin exited, unavailable), by method',
      labelNames: ['plugin', 'method'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'plugwire_plugin_call_duration_seconds',
      help: 'Call duration as the host sees it, by method',
      labelNames: ['plugin', 'method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#restarts = new Counter({
      name: 'plugwire_plugin_restarts_total',
      help: 'Restarts of the plugin process (after crashes, and restart())',
      labelNames: ['plugin'],
      registers,
    });
    const metrics = this;
    new Gauge({
      name: 'plugwire_plugin_state',
      help: 'The plugin state: 1 for the current state, 0 for the others',
      labelNames: ['plugin', 'state'],
      registers,
      collect() {
        this.reset();
        for (const p of source.plugins()) {
          for (const s of PLUGIN_STATES)
            this.set({ plugin: p.name, state: s }, p.state === s ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'plugwire_plugin_resident_memory_bytes',
      help: 'Resident set size of the plugin process',
      labelNames: ['plugin'],
      registers,
      collect() {
        this.reset();
        for (const p of source.plugins()) {
          const s = p.pid ? sampleProcess(p.pid) : undefined;
          if (s) this.set({ plugin: p.name }, s.rssBytes);
        }
      },
    });
    new Counter({
      name: 'plugwire_plugin_cpu_seconds_total',
      help: 'User and system CPU time of the plugin processes',
      labelNames: ['plugin'],
      registers,
      collect() {
        for (const p of source.plugins()) {
          const d = metrics.#cpuDelta(p.name, p.pid);
          if (d > 0) this.inc({ plugin: p.name }, d);
        }
      },
    });
  }

  /**
   * Starts timing a call; the returned function ends it, with the method's name when the
   * plugin has that method (else, or past MAX_METHOD_LABELS, it counts under
   * OTHER_METHOD_LABEL).
   */
  startCall(plugin: string): (method: string | undefined, ok: boolean) => void {
    const end = this.#latency.startTimer({ plugin });
    return (name, ok) => {
      const method = this.#label(plugin, name);
      end({ method });
      this.#calls.inc({ plugin, method });
      const t = this.#total(plugin);
      t.calls++;
      if (!ok) {
        this.#errors.inc({ plugin, method });
        t.errors++;
      }
    };
  }

  #label(plugin: string, method: string | undefined): string {
    if (method === undefined) return OTHER_METHOD_LABEL;
    let seen = this.#methods.get(plugin);
    if (!seen) {
      seen = new Set();
      this.#methods.set(plugin, seen);
    }
    if (seen.has(method)) return method;
    if (seen.size >= MAX_METHOD_LABELS) return OTHER_METHOD_LABEL;
    seen.add(method);
    return method;
  }

  restarted(plugin: string): void {
    this.#restarts.inc({ plugin });
    this.#total(plugin).restarts++;
  }

  /** Calls, errors and restarts so far (for tables). */
  totals(plugin: string): { calls: number; errors: number; restarts: number } {
    return { ...this.#total(plugin) };
  }

  /** Forgets an unloaded plugin's series. */
  remove(plugin: string): void {
    this.#totals.delete(plugin);
    this.#cpuSeen.delete(plugin);
    this.#methods.delete(plugin);
    for (const m of [this.#calls, this.#errors, this.#latency]) {
      (m as Counter<'plugin' | 'method'>).remove({ plugin });
    }
    this.#restarts.remove({ plugin });
  }

  /** Prometheus text exposition format. */
  prometheus(): Promise<string> {
    return this.registry.metrics();
  }

  /** Every loaded plugin's metrics. */
  async json(): Promise<Record<string, PluginMetrics>> {
    const latency = await this.#latency.get();
    const out: Record<string, PluginMetrics> = {};
    for (const p of this.#source.plugins()) {
      const t = this.#total(p.name);
      const sample = p.pid ? sampleProcess(p.pid) : undefined;
      const byLe = new Map<number, number>();
      let count = 0;
      let sum = 0;
      for (const v of latency.values) {
        if (v.labels.plugin !== p.name) continue;
        if (v.metricName?.endsWith('_bucket')) {
          const le = Number((v.labels as Record<string, unknown>).le); // '+Inf' → Infinity
          byLe.set(le, (byLe.get(le) ?? 0) + v.value);
        } else if (v.metricName?.endsWith('_count')) count += v.value;
        else if (v.metricName?.endsWith('_sum')) sum += v.value;
      }
      out[p.name] = {
        state: p.state,
        pid: p.pid,
        calls: t.calls,
        errors: t.errors,
        latency: {
          count,
          sumSeconds: sum,
          // +Inf is `count`, and JSON has no Infinity
          buckets: [...byLe]
            .filter(([le]) => Number.isFinite(le))
            .sort(([a], [b]) => a - b)
            .map(([le, n]) => ({ le, count: n })),
        },
        restarts: t.restarts,
        rssBytes: sample?.rssBytes,
        cpuSeconds: sample?.cpuSeconds,
      };
    }
    return out;
  }

  #total(plugin: string) {
    let t = this.#totals.get(plugin);
    if (!t) {
      t = { calls: 0, errors: 0, restarts: 0 };
      this.#totals.set(plugin, t);
    }
    return t;
  }

  /** CPU seconds used by the plugin's current process since the last collection. */
  #cpuDelta(plugin: string, pid: number | undefined): number {
    if (!pid) return 0;
    const s = sampleProcess(pid);
    if (!s) return 0;
    const seen = this.#cpuSeen.get(plugin);
    const before = seen && seen.pid === pid ? seen.seconds : 0;
    this.#cpuSeen.set(plugin, { pid, seconds: s.cpuSeconds });
    return Math.max(0, s.cpuSeconds - before);
  }
}
