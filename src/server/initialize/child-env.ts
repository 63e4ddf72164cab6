/**
 * The environment of a spawned server: PATH and HOME handed down by the server's config,
 * then the request's envFile variables, then its `env` (later wins). Nothing else of the
 * server's own environment reaches the child, so secrets such as MCP_AUTH_TOKEN or
 * DATABASE_URL stay in this process. A request may not set PATH (it would choose which
 * interpreter a `#!/usr/bin/env node` command runs) nor loader variables (LD_*, DYLD_*)
 * that inject code into an allowed program.
 */
import { InitializeError } from './errors.ts';

export interface BaseEnv {
  PATH?: string;
  HOME?: string;
}

export function isProtectedEnvName(name: string): boolean {
  const upper = name.toUpperCase();
  return upper === 'PATH' || upper.startsWith('LD_') || upper.startsWith('DYLD_');
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
          `${source} may not set ${name}: the server provides PATH, and loader variables are refused`,
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
