// Which of the host's environment variables a sandboxed plugin sees.

/** `inherit`: all of the host's; `none`: none; a list: only those names. */
export type EnvPolicy = 'inherit' | 'none' | readonly string[];

/**
 * The host variables the manager passes to a plugin by default: enough for a program to
 * find its tools, its home, its locale and time zone, and nothing that usually holds a
 * secret (tokens, cloud credentials, database URLs stay with the host).
 */
export const DEFAULT_PLUGIN_ENV: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'LC_ALL',
  'LC_CTYPE',
  'LC_MESSAGES',
  'TZ',
  'TMPDIR',
  'TERM',
  'SYSTEMROOT',
];

/** What to give PluginClient for a policy: its `env` and `skipHostEnv` options. */
export function envOptions(
  policy: EnvPolicy,
  declared: Record<string, string | undefined> = {},
  host: NodeJS.ProcessEnv = process.env,
): { env: Record<string, string | undefined>; skipHostEnv: boolean } {
  if (policy === 'inherit') return { env: { ...declared }, skipHostEnv: false };
  const env: Record<string, string | undefined> = {};
  if (policy !== 'none') {
    for (const name of policy) if (host[name] !== undefined) env[name] = host[name];
  }
  return { env: { ...env, ...declared }, skipHostEnv: true };
}

export function checkEnvPolicy(v: unknown): EnvPolicy {
  if (v === 'inherit' || v === 'none') return v;
  if (
    Array.isArray(v) &&
    v.every((n) => typeof n === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(n))
  ) {
    return v as string[];
  }
  throw new TypeError(
    `SandboxOptions.env must be 'inherit', 'none' or an array of variable names, not ${JSON.stringify(v)}`,
  );
}
