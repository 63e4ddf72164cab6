/**
 * The environment of a spawned server: PATH and HOME handed down by the server's config,
 * then the request's envFile variables, then its `env` (later wins). Nothing else of the
 * server's own environment reaches the child, so secrets such as MCP_AUTH_TOKEN or
 * DATABASE_URL stay in this process.
 *
 * A request may not set PATH (it would choose which interpreter a `#!/usr/bin/env node`
 * command runs) nor any variable on the denylist below: loader and interpreter hooks that
 * make an allowed program run code the request supplies. The sandbox is the boundary; this
 * denylist is depth, so the list errs on the side of refusing.
 */
import { InitializeError } from './errors.ts';

export interface BaseEnv {
  PATH?: string;
  HOME?: string;
}

/** Exact names (upper case) that inject code or options into a runtime. */
export const DENIED_ENV_NAMES: readonly string[] = [
  'PATH',
  // shells
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'PROMPT_COMMAND',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  // node
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  // python
  'PYTHONSTARTUP',
  'PYTHONPATH',
  'PYTHONHOME',
  'PYTHONINSPECT',
  'PYTHONUSERBASE',
  'PYTHONEXECUTABLE',
  'PYTHONBREAKPOINT',
  'PYTHONWARNINGS',
  // perl, ruby, java, .NET
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'PERL5DB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  'DOTNET_STARTUP_HOOKS',
  // glibc, git
  'GCONV_PATH',
  'GIT_CONFIG_PARAMETERS',
  'GIT_EXEC_PATH',
];

/** Prefixes (upper case) of loader variables and of uv/npm settings that pick what runs. */
export const DENIED_ENV_PREFIXES: readonly string[] = ['LD_', 'DYLD_', 'MALLOC_', 'GLIBC_', 'NPM_CONFIG_'];

export function isProtectedEnvName(name: string): boolean {
  const upper = name.toUpperCase();
  return DENIED_ENV_NAMES.includes(upper) || DENIED_ENV_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

export function buildChildEnv(
  base: BaseEnv,
  fileEnv: Record<string, string> = {},
  configEnv: Record<string, string> = {},
): Record<string, string> {
  for (const [source, vars] of [
    ['envFile', fileEnv],
    ['env', configEnv],
  ] as const) {
    for (const name of Object.keys(vars)) {
      if (isProtectedEnvName(name)) {
        throw new InitializeError(
          source === 'env' ? 'not_allowed' : 'env_file',
          `${source} may not set ${name}: the server provides PATH, and loader and interpreter hooks ` +
            '(LD_*, NODE_OPTIONS, BASH_ENV, PYTHONPATH, …) are refused',
        );
      }
    }
  }
  // Object.fromEntries defines own properties, so a "__proto__" key stays a plain variable.
  const entries: Array<[string, string]> = [];
  if (base.PATH !== undefined) entries.push(['PATH', base.PATH]);
  if (base.HOME !== undefined) entries.push(['HOME', base.HOME]);
  entries.push(...Object.entries(fileEnv), ...Object.entries(configEnv));
  return Object.fromEntries(entries);
}
