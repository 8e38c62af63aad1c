// Options of the control plane, their defaults in one place, and their validation.

/** Options of serveControl(). */
export interface ControlOptions {
  /**
   * The unix socket to serve on (created mode 0600; a stale one left by a dead host is
   * replaced, a live one is an error). `false` serves no socket.
   * @default controlSocketPath(<the manager's first plugin directory>)
   */
  socket?: string | false;
  /**
   * Also serve on 127.0.0.1 at this port (0 picks a free one), requiring the bearer token of
   * `tokenFile`. @default undefined (no TCP listener)
   */
  port?: number;
  /**
   * Where the token for the TCP listener is written (mode 0600; a new random token per
   * start). @default `<socket>.token`, or `<tmpdir>/plugwire-<port>.token` without a socket
   */
  tokenFile?: string;
  /** Largest request body of the control API and of plugin routes, in bytes. @default 1_048_576 */
  bodyLimit?: number;
  /** Longest call made through the API or a plugin route before it answers 504. @default 30_000 (ms) */
  callTimeout?: number;
  /** Log lines kept per plugin for `logs` and the dashboard. @default 1_000 */
  logLines?: number;
  /** State changes kept per plugin. @default 50 */
  historyLength?: number;
  /** How often the metrics are sampled for the event stream and charts. @default 1_000 (ms) */
  sampleInterval?: number;
  /** Samples kept per plugin for the charts (at 1 s: the last 10 minutes). @default 600 */
  samples?: number;
  /** Event-stream clients at once; more get 503. @default 32 */
  maxEventClients?: number;
  /**
   * Bytes queued for one event-stream client before it is dropped as too slow (a slow
   * reader must not grow the host's memory). @default 4_194_304
   */
  maxEventBacklog?: number;
  /** Serve the web dashboard at `/`. @default true */
  dashboard?: boolean;
}

export type ResolvedControlOptions = Required<
  Omit<ControlOptions, 'port' | 'tokenFile' | 'socket'>
> & {
  socket: string | false;
  port: number | undefined;
  tokenFile: string | undefined;
};

export const controlDefaults = {
  bodyLimit: 1024 * 1024,
  callTimeout: 30_000,
  logLines: 1_000,
  historyLength: 50,
  sampleInterval: 1_000,
  samples: 600,
  maxEventClients: 32,
  maxEventBacklog: 4 * 1024 * 1024,
  dashboard: true,
} as const;

/** The options with defaults filled in; throws a TypeError naming a wrong option. */
export function resolveControlOptions(
  o: ControlOptions,
  socket: string | false,
): ResolvedControlOptions {
  const r = {
    ...controlDefaults,
    ...withoutUndefined(o),
    socket,
    port: o.port,
    tokenFile: o.tokenFile,
  };
  const positive = [
    'bodyLimit',
    'callTimeout',
    'logLines',
    'historyLength',
    'sampleInterval',
    'samples',
    'maxEventClients',
    'maxEventBacklog',
  ] as const;
  for (const k of positive) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new TypeError(`control option ${k} must be a positive integer (got ${String(v)})`);
    }
  }
  if (r.port !== undefined && (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535)) {
    throw new TypeError(`control option port must be 0..65535 (got ${String(r.port)})`);
  }
  if (r.socket === false && r.port === undefined) {
    throw new TypeError(
      'control options: with socket: false a port is needed, or nothing is served',
    );
  }
  return r;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
