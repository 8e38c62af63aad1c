// Errors of the process layer. Each has a stable `code` (string) to branch on.

export interface ExitStatus {
  /** The exit code, or null when a signal ended the process. */
  code: number | null;
  /** The signal that ended the process, or null. */
  signal: NodeJS.Signals | null;
  /** Why, when what started the process knows more than the code or signal (a sandbox limit). */
  reason?: string;
}

export class PlugwireError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

function withStderr(message: string, stderr: readonly string[]): string {
  if (stderr.length === 0) return message;
  return `${message}\nlast lines of the plugin's stderr:\n  ${stderr.join('\n  ')}`;
}

/** The plugin did not complete the handshake as the protocol says. */
export class HandshakeError extends PlugwireError {
  /** The last lines the plugin wrote to stderr before failing. */
  readonly stderr: readonly string[];
  /** The offending handshake line, when there was one. */
  readonly line: string | undefined;
  /**
   * The last lines the program printed to stdout where its handshake line was expected (a
   * program that is not a plugwire plugin, or a plugin that prints before serve()).
   */
  readonly stdout: readonly string[];
  constructor(
    message: string,
    options: {
      line?: string;
      stderr?: readonly string[];
      stdout?: readonly string[];
      cause?: unknown;
      code?: string;
    } = {},
  ) {
    super(
      options.code ?? 'PLUGWIRE_HANDSHAKE',
      withStdout(withStderr(message, options.stderr ?? []), options.stdout ?? []),
      { cause: options.cause },
    );
    this.line = options.line;
    this.stdout = options.stdout ?? [];
    // A plugin that exited before the handshake: the tail is in the cause (and its message,
    // which this one repeats), and belongs here too.
    const fromCause = options.cause instanceof PluginExitedError ? options.cause.stderr : [];
    this.stderr = options.stderr?.length ? options.stderr : fromCause;
  }
}

/**
 * The plugin did not complete its start within the start timeout. `stage` says what the
 * host was waiting for: the handshake line, the connection, or the answer to
 * `plugwire/init`.
 */
export class StartTimeoutError extends HandshakeError {
  readonly stage: string;
  constructor(
    ms: number,
    stderr: readonly string[],
    stage = 'the handshake line',
    stdout: readonly string[] = [],
  ) {
    super(`the plugin did not complete its start within ${ms} ms (waiting for ${stage})`, {
      stderr,
      stdout,
      code: 'PLUGWIRE_START_TIMEOUT',
    });
    this.stage = stage;
  }
}

/**
 * The connection to a live plugin broke: a yamux protocol error, an error GoAway, an
 * oversized frame, or the plugin closed it without exiting. The host stops that plugin
 * (quit, grace, SIGKILL): a broken session means the plugin is gone. `cause` is the
 * transport's error.
 */
export class ConnectionLostError extends PlugwireError {
  constructor(name: string, cause: Error | undefined) {
    super(
      'PLUGWIRE_CONNECTION_LOST',
      `the connection to plugin "${name}" broke while its process was running${cause ? `: ${cause.message}` : ''}; the plugin is stopped`,
      { cause },
    );
  }
}

/**
 * The plugin process exited (or was killed). Pending and later calls reject with it.
 */
export class PluginExitedError extends PlugwireError {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: readonly string[];
  constructor(status: ExitStatus, stderr: readonly string[], what = 'the plugin process exited') {
    const how =
      (status.signal !== null ? `killed by ${status.signal}` : `with code ${status.code ?? '?'}`) +
      (status.reason ? `: ${status.reason}` : '');
    super('PLUGWIRE_PLUGIN_EXITED', withStderr(`${what} (${how})`, stderr));
    this.exitCode = status.code;
    this.signal = status.signal;
    this.stderr = stderr;
  }
}

/** dispense() named a plugin that the host or the plugin does not have. */
export class UnknownPluginError extends PlugwireError {
  readonly pluginName: string;
  constructor(name: string, known: readonly string[], where: 'host' | 'plugin') {
    super(
      'PLUGWIRE_UNKNOWN_PLUGIN',
      `unknown plugin "${name}" (the ${where} has: ${known.length ? known.join(', ') : 'none'})`,
    );
    this.pluginName = name;
  }
}

/** The client was used after kill(), or before start() with autoStart off. */
export class ClientStateError extends PlugwireError {
  constructor(message: string) {
    super('PLUGWIRE_CLIENT_STATE', message);
  }
}

/**
 * `message` with what the program printed to stdout instead of a handshake line: the usual
 * sign of a command that is not a plugwire plugin.
 */
function withStdout(message: string, stdout: readonly string[]): string {
  if (stdout.length === 0) return message;
  return `${message}\nit printed to stdout instead of a handshake line (a plugin prints exactly one line, CORE|APP|NETWORK|ADDRESS|PROTOCOL, see docs/protocol.md §3):\n${stdout.map((l) => `  ${l}`).join('\n')}`;
}
