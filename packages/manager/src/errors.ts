// Errors of the manager. Each has a stable `code` to branch on, and a message that says what
// happened and what to do, as the rest of plugwire.
import { PlugwireError } from '@plugwire/core';
import type { PluginState } from './state.js';

/** A file that cannot be used, naming the field at fault. */
abstract class FileFieldError extends PlugwireError {
  /** The file. */
  readonly file: string;
  /** The field at fault (`version`, `entry.command`, `plugins[1]`), or undefined for the file itself. */
  readonly field: string | undefined;
  constructor(
    code: string,
    file: string,
    field: string | undefined,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${file}: ${field ? `"${field}" ` : ''}${problem}`, options);
    this.file = file;
    this.field = field;
  }
}

/** A plugin.json that cannot be read, is not JSON, or has a field that is wrong. */
export class ManifestError extends FileFieldError {
  /** The plugin's name, once the manifest was read far enough to know it. */
  readonly plugin: string | undefined;
  constructor(
    file: string,
    field: string | undefined,
    problem: string,
    options: { cause?: unknown; plugin?: string | undefined; code?: string } = {},
  ) {
    super(options.code ?? 'PLUGWIRE_MANIFEST', file, field, problem, { cause: options.cause });
    this.plugin = options.plugin;
  }
}

/**
 * A manifest entry that would run something outside the plugin's folder: a command path
 * that leaves it (`../../bin/sh`, an absolute path, a symlink pointing out), or an entry
 * file that does. Code `PLUGWIRE_ENTRY_OUTSIDE`.
 */
export class EntryOutsideError extends ManifestError {
  constructor(file: string, field: string, problem: string, plugin: string) {
    super(file, field, problem, { plugin, code: 'PLUGWIRE_ENTRY_OUTSIDE' });
  }
}

/** The host's config file (plugwire.config.json or .toml) is wrong. */
export class ConfigError extends FileFieldError {
  constructor(
    file: string,
    field: string | undefined,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super('PLUGWIRE_CONFIG', file, field, problem, options);
  }
}

/** A plugin's config does not match the configSchema of its manifest. */
export class PluginConfigError extends PlugwireError {
  readonly plugin: string;
  constructor(plugin: string, problems: string) {
    super('PLUGWIRE_PLUGIN_CONFIG', `the config of plugin "${plugin}" ${problems}`);
    this.plugin = plugin;
  }
}

/** Fetching, installing, building or unpacking a plugin's source failed. */
export class SourceError extends PlugwireError {
  /** The source as written (path, package spec, git URL, bundle path). */
  readonly source: string;
  /** The plugin it was loaded for, when the host named it (config entry, settings). */
  readonly plugin: string | undefined;
  /** The file at fault (a bundle entry, a compiled file), when there is one. */
  readonly file: string | undefined;
  constructor(
    source: string,
    problem: string,
    options: {
      cause?: unknown;
      code?: string;
      plugin?: string | undefined;
      file?: string | undefined;
    } = {},
  ) {
    super(
      options.code ?? 'PLUGWIRE_SOURCE',
      `${options.plugin ? `plugin "${options.plugin}": ` : ''}${source}: ${problem}`,
      { cause: options.cause },
    );
    this.source = source;
    this.plugin = options.plugin;
    this.file = options.file;
  }
}

/**
 * A source refused before any tool ran: a git URL that git would read as an option
 * (`--upload-pack=…`) or that uses a transport that runs commands (`ext::`), a ref that is
 * not a plain ref name. Code `PLUGWIRE_SOURCE_REFUSED`; `field` names what is wrong
 * (`git`, `ref`).
 */
export class SourceRefusedError extends SourceError {
  readonly field: string;
  constructor(source: string, field: string, problem: string, plugin?: string) {
    super(source, `"${field}" ${problem}`, { code: 'PLUGWIRE_SOURCE_REFUSED', plugin });
    this.field = field;
  }
}

/**
 * A bundle or package tarball that cannot be used: not a gzipped tar, an entry that is a
 * link or leads outside, too large. Code `PLUGWIRE_ARCHIVE`; `file` names the entry at
 * fault when there is one.
 */
export class ArchiveError extends SourceError {
  constructor(
    source: string,
    problem: string,
    options: { cause?: unknown; plugin?: string | undefined; file?: string | undefined } = {},
  ) {
    super(source, problem, { ...options, code: 'PLUGWIRE_ARCHIVE' });
  }
}

/** A bundle whose sha256 is not the one the host expects. */
export class IntegrityError extends SourceError {
  readonly expected: string;
  readonly actual: string;
  constructor(
    source: string,
    expected: string,
    actual: string,
    plugin?: string,
    problem = `sha256 mismatch: expected ${expected}, the file has ${actual}; the bundle was changed or the config names the wrong hash`,
  ) {
    super(source, problem, { code: 'PLUGWIRE_INTEGRITY', plugin });
    this.expected = expected;
    this.actual = actual;
  }
}

/** No plugin of that name is loaded. */
export class PluginNotFoundError extends PlugwireError {
  readonly plugin: string;
  constructor(name: string, known: readonly string[]) {
    super(
      'PLUGWIRE_PLUGIN_NOT_FOUND',
      `no plugin "${name}" is loaded (loaded: ${known.length ? known.join(', ') : 'none'})`,
    );
    this.plugin = name;
  }
}

/** The loaded plugin's version does not satisfy the range the host asked for (`kv@^2`). */
export class VersionMismatchError extends PlugwireError {
  readonly plugin: string;
  readonly range: string;
  readonly versions: readonly string[];
  constructor(name: string, range: string, versions: readonly string[]) {
    super(
      'PLUGWIRE_VERSION_MISMATCH',
      `plugin "${name}" must satisfy ${range}, but the version${versions.length === 1 ? ' found is' : 's found are'} ${versions.length ? versions.join(', ') : 'none'}`,
    );
    this.plugin = name;
    this.range = range;
    this.versions = versions;
  }
}

/**
 * A call was made while the plugin cannot take it: crashed and waiting to restart,
 * restarting, failed, stopped. With `whileRestarting: 'wait'` calls wait for the restart
 * instead, and get this error only if the plugin fails or the wait times out.
 */
export class PluginUnavailableError extends PlugwireError {
  readonly plugin: string;
  readonly state: PluginState;
  /** When the supervisor restarts it next (ms since the epoch), if it will. */
  readonly retryAt: number | undefined;
  constructor(
    name: string,
    state: PluginState,
    detail: string,
    options: { retryAt?: number | undefined; cause?: unknown } = {},
  ) {
    super('PLUGWIRE_PLUGIN_UNAVAILABLE', `plugin "${name}" is ${state}: ${detail}`, {
      cause: options.cause,
    });
    this.plugin = name;
    this.state = state;
    this.retryAt = options.retryAt;
  }
}

/**
 * A hot upgrade did not happen; the old version keeps serving. (For a crashed or failed
 * plugin, which had no version serving, the new version did not start either:
 * `nothingRuns`.)
 */
export class UpgradeError extends PlugwireError {
  readonly plugin: string;
  constructor(
    name: string,
    problem: string,
    options: { cause?: unknown; nothingRuns?: boolean } = {},
  ) {
    super(
      'PLUGWIRE_UPGRADE',
      `upgrade of plugin "${name}" failed, ${options.nothingRuns ? 'and the new version did not start either' : 'the running version stays'}: ${problem}`,
      { cause: options.cause },
    );
    this.plugin = name;
  }
}
