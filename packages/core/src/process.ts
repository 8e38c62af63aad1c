import { type ChildProcess, spawn } from 'node:child_process';
import type { ExitStatus } from './errors.js';
import { isPlugwireDebugRecord, LineSplitter } from './logs.js';

/**
 * Starts the plugin process with the environment plugwire prepared. The child may carry a
 * function under `EXIT_REASON` that says why it ended (a sandbox's limit), asked after exit.
 */
export type SpawnFunction = (env: NodeJS.ProcessEnv) => ChildProcess;

/** Key of the optional `() => string | undefined` a spawned child carries (see SpawnFunction). */
export const EXIT_REASON = Symbol.for('plugwire.exitReason');

export interface PluginProcessOptions {
  spawn: SpawnFunction;
  env: NodeJS.ProcessEnv;
  /** Each stdout line; the client routes lines to the handshake reader, then to its sink. */
  onStdoutLine: (line: string) => void;
  onStderrLine: (line: string) => void;
  /** How many stderr lines to keep for error messages. */
  stderrTail?: number;
}

/**
 * How long to wait after 'exit' for the stderr pipe's end before reporting the exit. The
 * last lines a crashing plugin writes (its stack) are what the user needs; they arrive with
 * or just after 'exit'. A grandchild that inherited the pipe can hold it open for ever, so
 * the wait is bounded; 30 ms is far more than a local pipe needs to drain and keeps a
 * SIGKILLed plugin's calls failing within 100 ms (with EXIT_STATUS_WAIT_MS in client.ts).
 */
const STDIO_SETTLE_MS = 30;

/** What the client needs of a plugin process, whether it started it or reattached to it. */
export interface ProcessHandle {
  readonly pid: number | undefined;
  /** Resolves with the exit status once the process is gone (never rejects). */
  readonly exited: Promise<ExitStatus>;
  readonly hasExited: boolean;
  readonly spawnError: Error | undefined;
  /** Whether the host may act on it (signal it, remove its socket): it started it, or verified it. */
  readonly owned: boolean;
  stderrTail(): string[];
  /** Signals the process (group); a handle that cannot vouch for the pid does nothing. */
  signal(sig: NodeJS.Signals): void;
  /** Tells the plugin its host is going away (closes its stdin). */
  closeStdin(): void;
  /** Lets the host exit while the process runs on (reattachable plugins). */
  release(): void;
}

/**
 * One plugin process: its stdout and stderr read line by line, the tail of stderr kept for
 * error messages, its exit turned into a promise. Knows nothing of the protocol.
 */
export class PluginProcess implements ProcessHandle {
  readonly child: ChildProcess;
  /** Resolves with the exit status once the process is gone (never rejects). */
  readonly exited: Promise<ExitStatus>;
  #status: ExitStatus | undefined;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  spawnError: Error | undefined;
  readonly #tail: string[] = [];
  readonly #tailSize: number;

  constructor(options: PluginProcessOptions) {
    this.#tailSize = options.stderrTail ?? 20;
    this.child = options.spawn(options.env);
    const child = this.child;
    if (!child.stdout || !child.stderr) {
      throw new TypeError('the plugin process must be spawned with piped stdout and stderr');
    }
    const out = new LineSplitter(options.onStdoutLine);
    const err = new LineSplitter((line) => {
      if (!isPlugwireDebugRecord(line)) {
        this.#tail.push(line);
        if (this.#tail.length > this.#tailSize) this.#tail.shift();
      }
      options.onStderrLine(line);
    });
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stdout.on('end', () => out.end());
    child.stdout.on('error', () => {});
    const stderrEnded = new Promise<void>((resolve) => {
      child.stderr!.on('end', () => {
        err.end();
        resolve();
      });
      child.stderr!.on('close', resolve);
    });
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stderr.on('error', () => {});
    // The host never writes to the plugin's stdin; it stays open so that its EOF tells the
    // plugin its host is gone. EPIPE after the plugin exits is expected.
    child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      const finish = (status: ExitStatus) => {
        if (this.#status) return;
        const why = (child as { [EXIT_REASON]?: () => string | undefined })[EXIT_REASON]?.();
        if (why) status.reason = why;
        this.#status = status;
        resolve(status);
      };
      child.once('error', (e) => {
        // spawn failures come as 'error' without 'exit'
        if (child.pid === undefined) {
          this.spawnError = e;
          finish({ code: null, signal: null });
        }
      });
      child.once('exit', (code, signal) => {
        const status = { code, signal: signal as NodeJS.Signals | null };
        const settle = setTimeout(() => finish(status), STDIO_SETTLE_MS);
        stderrEnded.then(() => {
          clearTimeout(settle);
          finish(status);
        });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  readonly owned = true;

  /** The exit status, once the process has exited. */
  get status(): ExitStatus | undefined {
    return this.#status;
  }

  /** True from the moment the OS reported the exit. */
  get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null || !!this.#status;
  }

  /** The last lines of stderr (at most `stderrTail`). */
  stderrTail(): string[] {
    return [...this.#tail];
  }

  /**
   * Sends a signal to the plugin and, when it leads a process group of its own (as plugwire
   * starts plugins on POSIX), to everything it started.
   */
  signal(sig: NodeJS.Signals): void {
    if (this.hasExited || this.child.pid === undefined) return;
    try {
      if (process.platform !== 'win32') process.kill(-this.child.pid, sig);
      else this.child.kill(sig);
    } catch {
      try {
        this.child.kill(sig);
      } catch {
        // already gone
      }
    }
  }

  /** Closes the plugin's stdin: a plugwire plugin reads that as "the host is gone". */
  closeStdin(): void {
    this.child.stdin?.end();
  }

  /** Stops holding the host's event loop open for this process and its pipes. */
  release(): void {
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) {
      (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }
}

/** Spawns `command` the way plugwire expects: piped stdio, own process group on POSIX. */
export function spawnCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string | undefined },
): SpawnFunction {
  return (env) =>
    spawn(command, args, {
      env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Own process group: the terminal's Ctrl-C goes to the host only (the host decides
      // when plugins stop, as in go-plugin), and kill() reaches the plugin's children.
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
}
