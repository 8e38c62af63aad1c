import { StringDecoder } from 'node:string_decoder';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** One log record from a plugin, as the host's logger receives it. */
export interface LogRecord {
  level: LogLevel;
  message: string;
  /** `@timestamp` of an hclog record, as the plugin wrote it. */
  timestamp?: string;
  /** `@module` of an hclog record. */
  module?: string;
  /** Every other key of an hclog record. */
  fields: Record<string, unknown>;
  /** False for plain text lines, which pass through at `info` level. */
  structured: boolean;
  /** The name of the plugin that wrote it. */
  plugin: string;
}

/**
 * Splits a byte stream into lines (LF or CRLF). A line longer than `maxLineLength`
 * characters is emitted in pieces rather than dropped or buffered without bound.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  readonly #max: number;
  readonly #onLine: (line: string) => void;
  #partial = '';

  constructor(onLine: (line: string) => void, maxLineLength = 64 * 1024) {
    this.#onLine = onLine;
    this.#max = maxLineLength;
  }

  push(chunk: Buffer | string): void {
    let text = this.#partial + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    let nl = text.indexOf('\n');
    while (nl >= 0) {
      const end = nl > 0 && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.#emit(text.slice(0, end));
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
    }
    while (text.length > this.#max) {
      this.#onLine(text.slice(0, this.#max));
      text = text.slice(this.#max);
    }
    this.#partial = text;
  }

  /** Emits what is left (a last line without newline). */
  end(): void {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    if (rest.length > 0) this.#emit(rest);
  }

  #emit(line: string): void {
    for (let i = 0; i < line.length; i += this.#max) this.#onLine(line.slice(i, i + this.#max));
    if (line.length === 0) this.#onLine('');
  }
}

/**
 * Reads one stderr line of a plugin: a JSON object with `@level` and `@message` (the hclog
 * JSON format go-plugin uses) becomes a structured record at that level; anything else is
 * text at `info`.
 */
export function parseLogLine(line: string, plugin: string): LogRecord {
  if (line.startsWith('{') && line.endsWith('}')) {
    try {
      const obj = JSON.parse(line) as Record<string, unknown>;
      if (obj && typeof obj === 'object' && typeof obj['@message'] === 'string') {
        const {
          '@level': level,
          '@message': message,
          '@timestamp': ts,
          '@module': mod,
          ...fields
        } = obj;
        return {
          level: toLevel(level),
          message: message as string,
          ...(typeof ts === 'string' ? { timestamp: ts } : {}),
          ...(typeof mod === 'string' ? { module: mod } : {}),
          fields,
          structured: true,
          plugin,
        };
      }
    } catch {
      // not JSON after all: text
    }
  }
  return { level: 'info', message: line, fields: {}, structured: false, plugin };
}

/**
 * Whether a stderr line is one of plugwire's own debug or trace records (`plugin serving`,
 * `plugin shutting down`): kept out of the stderr tail that errors show, which is for what
 * the plugin wrote. Its warnings and errors (an uncaught exception) stay in.
 */
export function isPlugwireDebugRecord(line: string): boolean {
  if (!line.startsWith('{') || !line.includes('"@module":"plugwire"')) return false;
  const r = parseLogLine(line, '');
  return r.structured && r.module === 'plugwire' && (r.level === 'debug' || r.level === 'trace');
}

function toLevel(value: unknown): LogLevel {
  const v = typeof value === 'string' ? value.toLowerCase() : '';
  if (v === 'warning') return 'warn';
  return (LEVELS as readonly string[]).includes(v) ? (v as LogLevel) : 'info';
}

export interface Logger {
  trace(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  /** `@module` of every record. */
  name?: string;
  /** Records below this level are dropped. @default 'trace' (the host filters) */
  level?: LogLevel;
  /** Where lines go. @default process.stderr */
  write?: (line: string) => void;
}

/**
 * A plugin-side logger that writes go-plugin's hclog JSON format to stderr, one record per
 * line, so the host turns each into a structured record at the right level.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LEVELS.indexOf(options.level ?? 'trace');
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const log = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVELS.indexOf(level) < min) return;
    const record: Record<string, unknown> = {
      '@level': level,
      '@message': message,
      '@timestamp': new Date().toISOString(),
    };
    if (options.name) record['@module'] = options.name;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        record[k] = v instanceof Error ? { message: v.message, stack: v.stack } : v;
      }
    }
    write(`${safeStringify(record)}\n`);
  };
  return {
    trace: log('trace'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    const {
      '@level': level,
      '@message': message,
      '@timestamp': ts,
    } = value as Record<string, unknown>;
    return JSON.stringify({ '@level': level, '@message': message, '@timestamp': ts });
  }
}
