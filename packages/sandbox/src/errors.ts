// Errors of the sandbox. Each has a stable `code` (string) to branch on.

/** Which part of the sandbox an error is about. */
export type SandboxLimit = 'memory' | 'cpu' | 'cpuTime' | 'pids' | 'network' | 'user' | 'files';

export class SandboxError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A limit was asked for that this host cannot enforce (no cgroup it may create, not root
 * for another user or a network namespace, a Node without the permission model). Thrown
 * when the sandbox is made, before anything runs: a plugin never runs with less isolation
 * than its sandbox asked for.
 */
export class SandboxUnavailableError extends SandboxError {
  readonly limit: SandboxLimit;
  constructor(limit: SandboxLimit, why: string) {
    super('PLUGWIRE_SANDBOX_UNAVAILABLE', `the sandbox cannot enforce ${limit} here: ${why}`);
    this.limit = limit;
  }
}
