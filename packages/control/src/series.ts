// The metrics over time: every sampleInterval the manager's metrics are read once, turned
// into rates (calls/s, errors/s), percentiles of the calls since the last sample, RSS and CPU,
// kept in a ring per plugin for the charts, and handed to the event stream.
import type { PluginManager, PluginMetrics } from '@plugwire/manager';
import { bucketDelta, quantile } from './quantile.js';
import { Ring } from './ring.js';

/** One sample of one plugin. */
export interface Sample {
  /** ms since the epoch. */
  time: number;
  callsPerSec: number;
  errorsPerSec: number;
  /** Latency of the calls since the previous sample, in ms (undefined without calls). */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  rssBytes: number | undefined;
  /** CPU use since the previous sample, in percent of one core. */
  cpuPercent: number | undefined;
}

/** Totals of one plugin, for the plugin list. */
export interface Totals {
  calls: number;
  errors: number;
  /** Over all calls so far, in ms. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  rssBytes: number | undefined;
  cpuSeconds: number | undefined;
}

/** Seconds to milliseconds, to the microsecond (the buckets are no finer). */
function ms(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : Math.round(seconds * 1e6) / 1e3;
}

export function totalsOf(m: PluginMetrics | undefined): Totals {
  if (!m) {
    return {
      calls: 0,
      errors: 0,
      p50Ms: undefined,
      p99Ms: undefined,
      rssBytes: undefined,
      cpuSeconds: undefined,
    };
  }
  return {
    calls: m.calls,
    errors: m.errors,
    p50Ms: ms(quantile(0.5, m.latency.buckets, m.latency.count)),
    p99Ms: ms(quantile(0.99, m.latency.buckets, m.latency.count)),
    rssBytes: m.rssBytes,
    cpuSeconds: m.cpuSeconds,
  };
}

export class Series {
  readonly #rings = new Map<string, Ring<Sample>>();
  readonly #prev = new Map<string, { time: number; m: PluginMetrics }>();
  readonly #samples: number;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(samples: number) {
    this.#samples = samples;
  }

  /** Samples every `interval` ms and hands each round to `on`. */
  start(
    manager: PluginManager,
    interval: number,
    on: (round: Record<string, Sample>) => void,
  ): void {
    this.#timer = setInterval(() => {
      // A slow /proc read must not pile rounds up.
      if (this.#busy) return;
      this.#busy = true;
      manager
        .metrics()
        .then((all) => on(this.#take(all, Date.now())))
        .catch(() => {})
        .finally(() => {
          this.#busy = false;
        });
    }, interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The samples of one plugin, oldest first. */
  of(plugin: string): Sample[] {
    return this.#rings.get(plugin)?.last() ?? [];
  }

  #take(all: Record<string, PluginMetrics>, now: number): Record<string, Sample> {
    const round: Record<string, Sample> = {};
    for (const name of [...this.#rings.keys()]) if (!(name in all)) this.#forget(name);
    for (const [name, m] of Object.entries(all)) {
      const prev = this.#prev.get(name);
      const dt = prev ? (now - prev.time) / 1000 : 0;
      const rate = (a: number, b: number | undefined) =>
        dt > 0 && b !== undefined ? Math.max(0, a - b) / dt : 0;
      const buckets = bucketDelta(m.latency.buckets, prev?.m.latency.buckets);
      const n = m.latency.count - (prev?.m.latency.count ?? 0);
      const cpu =
        dt > 0 &&
        m.cpuSeconds !== undefined &&
        prev?.m.cpuSeconds !== undefined &&
        prev.m.pid === m.pid
          ? (Math.max(0, m.cpuSeconds - prev.m.cpuSeconds) / dt) * 100
          : undefined;
      const s: Sample = {
        time: now,
        callsPerSec: rate(m.calls, prev?.m.calls),
        errorsPerSec: rate(m.errors, prev?.m.errors),
        p50Ms: ms(quantile(0.5, buckets, n)),
        p99Ms: ms(quantile(0.99, buckets, n)),
        rssBytes: m.rssBytes,
        cpuPercent: cpu,
      };
      this.#prev.set(name, { time: now, m });
      let ring = this.#rings.get(name);
      if (!ring) {
        ring = new Ring<Sample>(this.#samples);
        this.#rings.set(name, ring);
      }
      ring.push(s);
      round[name] = s;
    }
    return round;
  }

  #forget(name: string): void {
    this.#rings.delete(name);
    this.#prev.delete(name);
  }
}
