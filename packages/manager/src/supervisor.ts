// The restart policy: exponential backoff, and a crash budget per time window beyond which
// a plugin is given up on (`failed`). Pure: the clock is passed in, so it is tested alone.

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
  initialDelay: 200,
  factor: 2,
  maxDelay: 30_000,
  maxRestarts: 5,
  window: 60_000,
};

/** What to do about a crash. */
export type Verdict =
  | { restart: true; delay: number; crashes: number }
  | { restart: false; crashes: number };

/** The crashes of one plugin within the window. */
export class CrashHistory {
  readonly #o: Required<SupervisorOptions>;
  #times: number[] = [];

  constructor(options: SupervisorOptions = {}) {
    this.#o = { ...supervisorDefaults, ...options };
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
