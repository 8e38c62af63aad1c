// The restart policy and its clock: exponential backoff, and a crash budget per time window
// beyond which a plugin is given up on (`failed`). CrashHistory is pure (the clock is passed
// in, so it is tested alone); Supervisor holds one plugin's history and its pending restart.

/** How the manager restarts crashed plugins. */
export interface SupervisorOptions {
  /** Delay before the first restart after a crash. @default 200 (ms) */
  initialDelay?: number;
  /** Each further crash within the window multiplies the delay by this. @default 2 */
  factor?: number;
  /** The delay never exceeds this. @default 30_000 (ms) */
  maxDelay?: number;
  /** Restarts allowed within `window`; the crash after them makes the plugin `failed`. @default 5 */
  maxRestarts?: number;
  /** The window crashes are counted in. @default 60_000 (ms) */
  window?: number;
}

export const supervisorDefaults: Required<SupervisorOptions> = {
  // Long enough that a plugin crashing at start does not spin a CPU; short enough that a
  // one-off crash is barely noticed by callers.
  initialDelay: 200,
  factor: 2,
  // After 8 crashes in a row the delay stops growing: a plugin is retried at least twice a minute.
  maxDelay: 30_000,
  maxRestarts: 5,
  window: 60_000,
};

/** The supervisor options with defaults filled in; a bad value throws, naming it. */
export function resolveSupervisorOptions(
  options: SupervisorOptions = {},
  prefix = 'supervisor',
): Required<SupervisorOptions> {
  const o = { ...supervisorDefaults };
  for (const [k, v] of Object.entries(options)) {
    if (!(k in supervisorDefaults)) {
      throw new TypeError(
        `${prefix}.${k} is not a supervisor option (known: ${Object.keys(supervisorDefaults).join(', ')})`,
      );
    }
    if (v === undefined) continue;
    if (typeof v !== 'number' || Number.isNaN(v)) {
      throw new TypeError(`${prefix}.${k} must be a number (got ${JSON.stringify(v)})`);
    }
    const min = k === 'factor' ? 1 : 0;
    if (v < min || (k === 'maxRestarts' && !Number.isInteger(v))) {
      throw new RangeError(
        `${prefix}.${k} must be ${k === 'maxRestarts' ? 'an integer ' : ''}≥ ${min} (got ${v})`,
      );
    }
    (o as Record<string, number>)[k] = v;
  }
  return o;
}

/** What to do about a crash. */
export type Verdict =
  | { restart: true; delay: number; crashes: number }
  | { restart: false; crashes: number };

/** The crashes of one plugin within the window. */
export class CrashHistory {
  readonly #o: Required<SupervisorOptions>;
  #times: number[] = [];

  constructor(options: SupervisorOptions = {}) {
    this.#o = resolveSupervisorOptions(options);
  }

  /** Records a crash at `now`: restart after the delay, or give up. */
  crash(now: number): Verdict {
    this.#times = this.#times.filter((t) => now - t < this.#o.window);
    this.#times.push(now);
    const n = this.#times.length;
    if (n > this.#o.maxRestarts) return { restart: false, crashes: n };
    const delay = Math.min(this.#o.maxDelay, this.#o.initialDelay * this.#o.factor ** (n - 1));
    return { restart: true, delay, crashes: n };
  }

  /** Forgets every crash (a manual start of a failed plugin). */
  reset(): void {
    this.#times = [];
  }
}

/**
 * One plugin's supervisor: on a crash, decides (with its CrashHistory) whether to restart,
 * and schedules the restart after the backoff delay.
 */
export class Supervisor {
  readonly #history: CrashHistory;
  #timer: NodeJS.Timeout | undefined;
  #retryAt: number | undefined;

  constructor(options: SupervisorOptions) {
    this.#history = new CrashHistory(options);
  }

  /** When the pending restart happens (ms since the epoch), if one is pending. */
  get retryAt(): number | undefined {
    return this.#retryAt;
  }

  /** True while a restart is scheduled. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Records a crash; schedules `restart` after the backoff delay and returns true, or
   * returns false when the plugin crashed too often (the caller marks it failed).
   */
  crashed(restart: () => void): boolean {
    this.cancel();
    const now = Date.now();
    const verdict = this.#history.crash(now);
    if (!verdict.restart) return false;
    this.#retryAt = now + verdict.delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#retryAt = undefined;
      restart();
    }, verdict.delay);
    return true;
  }

  /** Drops a pending restart. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#retryAt = undefined;
  }

  /** Cancels any pending restart and forgets the crashes (a manual start). */
  reset(): void {
    this.cancel();
    this.#history.reset();
  }
}
