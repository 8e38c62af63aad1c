import { StartTimeoutError } from './errors.js';

/**
 * One deadline for the whole start: the handshake line, the connection, TLS, the token and
 * the answer to `plugwire/init` all share `startTimeout`, so that start() settles in time
 * whatever the plugin does after its handshake line (issue #13, item 3).
 */
export class StartDeadline {
  readonly ms: number;
  readonly #at: number;
  readonly #stderr: () => readonly string[];
  readonly #stdout: () => readonly string[];

  constructor(
    ms: number,
    stderr: () => readonly string[],
    stdout: () => readonly string[] = () => [],
  ) {
    this.ms = ms;
    this.#at = performance.now() + ms;
    this.#stderr = stderr;
    this.#stdout = stdout;
  }

  /** Milliseconds left (0 once passed). */
  remaining(): number {
    return Math.max(0, this.#at - performance.now());
  }

  /** The error of this deadline, naming what the host was waiting for. */
  error(stage: string): StartTimeoutError {
    return new StartTimeoutError(this.ms, this.#stderr(), stage, this.#stdout());
  }

  /**
   * Settles as `p` does, or rejects with StartTimeoutError when the deadline comes first;
   * `onTimeout` then releases what `p` was waiting on.
   */
  race<T>(p: Promise<T>, stage: string, onTimeout?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The error first: it describes the state that onTimeout is about to release.
        const err = this.error(stage);
        onTimeout?.();
        reject(err);
      }, this.remaining());
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
}
