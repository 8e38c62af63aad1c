import { readFileSync } from 'node:fs';
import type { ExitStatus } from './errors.js';
import { PlugwireError } from './errors.js';
import type { ProcessHandle } from './process.js';

/**
 * What a host needs to connect again to a running plugin it (or another host process)
 * started: `PluginClient.reattachConfig()` gives it, `new PluginClient({ reattach })` uses
 * it. JSON-serialisable. With AutoMTLS it holds the host's private key: keep it secret.
 */
export interface ReattachConfig {
  /** Format of this record. */
  version: 1;
  pid: number;
  network: 'unix' | 'tcp';
  address: string;
  protocolVersion: number;
  codec: string;
  /** The plugin's certificate (base64 DER), when TLS was negotiated. */
  cert?: string;
  /** The host's certificate and key (PEM) the plugin trusts, with AutoMTLS. */
  clientCert?: string;
  clientKey?: string;
  /** tcp: the token the plugin requires as the first bytes of a connection. */
  token?: string;
  /** unix: the directory the starting host made for the socket; removed after a kill. */
  socketDir?: string;
}

/** Reattaching failed: the process is gone, the address does not answer, or it is not our plugin. */
export class ReattachError extends PlugwireError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLUGWIRE_REATTACH', message, options);
  }
}

/** True while `pid` runs. A zombie (exited, not yet reaped by its parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  }
  return true;
}

/** How often a reattached client looks for its plugin's exit once it expects it. */
const POLL_MS = 25;

/**
 * A plugin process this host did not start: no pipes, no exit code. It may be signalled only
 * once `verify()` was called, after the plugin itself confirmed its pid over the connection:
 * a pid from a stale record may belong to an unrelated process by now.
 */
export class AttachedProcess implements ProcessHandle {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  readonly spawnError = undefined;
  #verified = false;
  #gone = false;
  #watching: NodeJS.Timeout | undefined;
  #resolve!: (s: ExitStatus) => void;

  constructor(pid: number) {
    this.pid = pid;
    this.exited = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  get hasExited(): boolean {
    return this.#gone;
  }

  get owned(): boolean {
    return this.#verified;
  }

  /** The plugin confirmed this pid over its own connection. */
  verify(): void {
    this.#verified = true;
  }

  /**
   * Starts looking for the exit (there is no SIGCHLD for a process that is not our child).
   * The client calls it once the connection dropped or a kill began.
   */
  watch(): void {
    if (this.#watching || this.#gone) return;
    const check = () => {
      if (isAlive(this.pid)) return;
      this.markGone();
    };
    this.#watching = setInterval(check, POLL_MS);
    check();
  }

  /** The process is gone (or was never ours to watch). */
  markGone(): void {
    if (this.#gone) return;
    this.#gone = true;
    clearInterval(this.#watching);
    this.#resolve({ code: null, signal: null });
  }

  stderrTail(): string[] {
    return [];
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.#verified || this.#gone) return;
    try {
      process.kill(-this.pid, sig); // plugwire starts plugins as process group leaders
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        // gone
      }
    }
  }

  closeStdin(): void {}

  release(): void {}
}
