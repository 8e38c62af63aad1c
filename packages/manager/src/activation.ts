// Start on demand, stop when idle: the manifest's `activation` and `idleTimeout`, and the
// per-plugin bookkeeping that decides when an idle plugin stops and when a call wakes it.
import type { ManagedPlugin } from './managed-plugin.js';

/** When a plugin starts: `eager` at load (with autoStart), `lazy` at its first call or route hit. */
export type ActivationMode = 'eager' | 'lazy';

/** The manifest's activation fields. */
export interface Activation {
  /** @default 'eager' */
  mode: ActivationMode;
  /** Stop the process after this many ms without a call in flight; the next call starts it again. */
  idleTimeout: number | undefined;
}

// Below this a plugin would stop between two calls of one request burst; above it a timer
// would not fit in a 32-bit setTimeout.
const MIN_IDLE_MS = 100;
const MAX_IDLE_MS = 2 ** 31 - 1;

/** Reads `activation` and `idleTimeout` of a manifest. */
export function parseActivation(
  raw: Record<string, unknown>,
  fail: (field: string, problem: string) => never,
): Activation {
  const mode = raw.activation ?? 'eager';
  if (mode !== 'eager' && mode !== 'lazy') {
    fail('activation', `must be "eager" or "lazy" (got ${JSON.stringify(raw.activation)})`);
  }
  const idle = raw.idleTimeout;
  if (
    idle !== undefined &&
    (typeof idle !== 'number' ||
      !Number.isInteger(idle) ||
      idle < MIN_IDLE_MS ||
      idle > MAX_IDLE_MS)
  ) {
    fail(
      'idleTimeout',
      `must be an integer of milliseconds from ${MIN_IDLE_MS} (got ${JSON.stringify(idle)})`,
    );
  }
  return { mode: mode as ActivationMode, idleTimeout: idle as number | undefined };
}

/** What the tracker needs of a plugin. */
export interface Sleeper {
  readonly name: string;
  readonly state: string;
  readonly activation: Activation;
  stop(): Promise<void>;
}

/**
 * Counts the calls of each plugin between their start and end (including the wait for a
 * start), arms the idle timer when the count falls to zero, and remembers plugins a person
 * stopped (those stay stopped: a call does not wake them).
 */
export class IdleTracker {
  readonly #busy = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #held = new Set<string>();
  readonly #warn: (err: Error) => void;

  constructor(warn: (err: Error) => void) {
    this.#warn = warn;
  }

  /** True when a call should start the stopped plugin rather than fail. */
  wakes(p: Sleeper): boolean {
    if (p.state !== 'stopped' && p.state !== 'stopping') return false;
    if (this.#held.has(p.name)) return false;
    return p.activation.mode === 'lazy' || p.activation.idleTimeout !== undefined;
  }

  /** A call of `p` begins. */
  enter(p: Sleeper): void {
    this.#busy.set(p.name, (this.#busy.get(p.name) ?? 0) + 1);
    this.#disarm(p.name);
  }

  /** A call of `p` has settled. */
  leave(p: Sleeper): void {
    const n = (this.#busy.get(p.name) ?? 1) - 1;
    if (n > 0) {
      this.#busy.set(p.name, n);
      return;
    }
    this.#busy.delete(p.name);
    this.arm(p);
  }

  /** Starts the idle countdown of a running plugin with an idleTimeout and no call in flight. */
  arm(p: Sleeper): void {
    const ms = p.activation.idleTimeout;
    if (ms === undefined || this.#busy.has(p.name)) return;
    this.#disarm(p.name);
    const timer = setTimeout(() => {
      this.#timers.delete(p.name);
      if (this.#busy.has(p.name) || p.state !== 'running') return;
      // stop() lets a call that slipped in meanwhile finish before the process goes.
      p.stop().catch((err: Error) => this.#warn(err));
    }, ms);
    timer.unref();
    this.#timers.set(p.name, timer);
  }

  /** Someone stopped the plugin: calls must not wake it until it is started again. */
  hold(name: string): void {
    this.#held.add(name);
    this.#disarm(name);
  }

  /** Someone started it: it may sleep and wake again. */
  release(name: string): void {
    this.#held.delete(name);
  }

  /** Forgets an unloaded plugin. */
  forget(name: string): void {
    this.#disarm(name);
    this.#held.delete(name);
    this.#busy.delete(name);
  }

  #disarm(name: string): void {
    const t = this.#timers.get(name);
    if (t) clearTimeout(t);
    this.#timers.delete(name);
  }
}

/** The view of a plugin the idle tracker needs (the manifest may change with an upgrade). */
export function sleeperOf(p: ManagedPlugin): Sleeper {
  return {
    name: p.name,
    get state() {
      return p.state;
    },
    get activation() {
      return p.prepared.manifest.activation;
    },
    stop: () => p.stop(),
  };
}
