// Git sources: which URLs and refs are accepted, resolving a ref to a commit, and cloning a
// repository at that commit into the cache.
//
// A git URL and a ref come from a config file or a manifest, and git reads some strings as
// commands: a "URL" that starts with `-` is an option (`--upload-pack=<cmd>` runs <cmd>), and
// the `ext::` and `fd::` transports run or open what follows. So URLs and refs are checked
// before git runs, passed after `--`, and git is told which transports it may use.
import { isAbsolute, join } from 'node:path';
import { fillOnce, runTool, shortKey } from './cache.js';
import { SourceError, SourceRefusedError } from './errors.js';
import { hasBuildScript, installAndBuild } from './npm.js';
import { prepareDir } from './prepare.js';
import type { PreparedPlugin, PrepareOptions, SourceContext } from './sources.js';

/**
 * The transports a git source may use. `ext` and `fd` are left out: they run a command or
 * read a file descriptor named in the URL.
 */
export const GIT_PROTOCOLS = ['file', 'git', 'http', 'https', 'ssh'] as const;

/**
 * The environment of every git the manager runs: no prompt for credentials (a load must not
 * hang on a terminal), and only the transports above (GIT_ALLOW_PROTOCOL overrides any
 * `protocol.*.allow` in the user's git config).
 */
const GIT_ENV = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_ALLOW_PROTOCOL: GIT_PROTOCOLS.join(':'),
};

/** `-c` options in front of every git command: belt and braces for the same rule. */
const GIT_CONFIG = ['-c', 'protocol.ext.allow=never', '-c', 'protocol.fd.allow=never'];

// scheme://… with a scheme git knows; scp-like user@host:path; an absolute local path.
const URL_FORMS = /^(?:(?:git|ssh|https?|file|git\+ssh|ssh\+git):\/\/\S+|[\w.-]+@[\w.-]+:\S+)$/;
// What git's check-ref-format allows, minus what could be read otherwise: no leading `-`,
// no `..`, no `@{`, no control characters, spaces or `~^:?*[\`.
const REF = /^(?!-)(?!.*\.\.)(?!.*@\{)(?!.*\/\/)(?!.*\/$)(?!.*\.lock$)[A-Za-z0-9._/+-]{1,255}$/;

/** Refuses a git URL that git could read as an option or as a command-running transport. */
export function checkGitUrl(url: string, plugin?: string): void {
  const refuse = (why: string): never => {
    throw new SourceRefusedError(url, 'git', why, plugin);
  };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused
  if (/[\x00-\x20\x7f]/.test(url)) refuse('must not contain spaces or control characters');
  if (url.startsWith('-')) refuse('must not start with "-" (git would read it as an option)');
  // ssh would read a host that starts with "-" as an option (`ssh://-oProxyCommand=…`).
  if (/:\/\/-|^[^/]*@-/.test(url)) refuse('must not name a host that starts with "-"');
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) {
    refuse(
      `uses the "${url.slice(0, url.indexOf('::'))}::" transport, which runs commands or opens descriptors; allowed: ${GIT_PROTOCOLS.join(', ')}`,
    );
  }
  if (isAbsolute(url)) return;
  if (!URL_FORMS.test(url)) {
    refuse(
      `must be an absolute path, a URL with one of ${GIT_PROTOCOLS.join(', ')}, or user@host:path`,
    );
  }
}

/** Refuses a ref that is not a plain branch, tag or commit name. */
export function checkGitRef(url: string, ref: string, plugin?: string): void {
  if (ref === 'HEAD' || /^[0-9a-f]{40}$/i.test(ref)) return;
  if (!REF.test(ref)) {
    throw new SourceRefusedError(
      `${url}#${ref}`,
      'ref',
      `must be a branch, tag or commit name (letters, digits, ".", "_", "/", "+", "-", not starting with "-"; got ${JSON.stringify(ref)})`,
      plugin,
    );
  }
}

function git(
  where: string,
  args: readonly string[],
  options: { cwd?: string; plugin?: string | undefined } = {},
): Promise<string> {
  return runTool(where, 'git', [...GIT_CONFIG, ...args], {
    env: GIT_ENV,
    ...options,
  });
}

/** The commit a ref names in a remote repository. */
export async function resolveGitRef(url: string, ref: string, plugin?: string): Promise<string> {
  checkGitUrl(url, plugin);
  checkGitRef(url, ref, plugin);
  if (/^[0-9a-f]{40}$/i.test(ref)) return ref.toLowerCase();
  const out = await git(`${url}#${ref}`, ['ls-remote', '--', url], { plugin });
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, name] = line.split('\t');
    if (sha && name && /^[0-9a-f]{40}$/.test(sha)) refs.set(name, sha);
  }
  // An annotated tag's commit is its peeled ref (`^{}`).
  for (const name of [
    `refs/tags/${ref}^{}`,
    `refs/tags/${ref}`,
    `refs/heads/${ref}`,
    ref === 'HEAD' ? 'HEAD' : `refs/${ref}`,
  ]) {
    const sha = refs.get(name);
    if (sha) return sha;
  }
  const known = [...refs.keys()]
    .filter((n) => !n.endsWith('^{}'))
    .map((n) => n.replace(/^refs\/(?:heads|tags)\//, ''));
  throw new SourceError(
    `${url}#${ref}`,
    `no branch or tag "${ref}" (the repository has: ${known.join(', ') || 'nothing'})`,
    { plugin },
  );
}

/**
 * Clones a repository at the commit its ref names into `<cache>/git/<url key>/<commit>`,
 * installs its dependencies (install scripts only when allowed) and runs its build script
 * (only when allowed), once per commit.
 */
export async function checkoutGit(
  url: string,
  ref: string,
  ctx: SourceContext,
  o: PrepareOptions = {},
): Promise<PreparedPlugin> {
  const where = `${url}#${ref}`;
  const commit = await resolveGitRef(url, ref, o.plugin);
  // Installed with and without scripts are different trees: separate entries.
  const dir = join(
    ctx.cacheDir,
    'git',
    shortKey(url),
    `${commit}${o.allowScripts ? '-scripts' : ''}`,
  );
  const cached = await fillOnce(dir, async (tmp) => {
    await git(where, ['clone', '--quiet', '--no-checkout', '--', url, tmp], { plugin: o.plugin });
    await git(where, ['checkout', '--quiet', commit, '--'], { cwd: tmp, plugin: o.plugin });
    await installAndBuild(where, tmp, o);
  });
  return prepareDir(dir, { kind: 'git', spec: where, resolved: commit, cached }, ctx, {
    ...o,
    buildSkipped: o.allowScripts ? undefined : hasBuildScript,
  });
}
