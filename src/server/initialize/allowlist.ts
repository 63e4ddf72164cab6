/**
 * Which program a server_initialize request may run. A Kafka message must never be able to
 * start an arbitrary program, so the decision is an exact match against the operator's list:
 * a bare name ("npx") is allowed only if that name is listed, a path ("/opt/x/server",
 * "./server") only if that exact path is listed. Bare names are looked up on the PATH the
 * child gets from the server (never one from the request) and only in absolute directories,
 * so neither the request nor the working directory can substitute another file.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { InitializeError } from './errors.ts';

export type CommandDecision = { allowed: true; kind: 'name' | 'path' } | { allowed: false; why: string };

/** A command naming a file by path rather than a program to look up on PATH. */
export function isPathCommand(command: string): boolean {
  return command.includes('/') || command.includes('\\');
}

export function decideCommand(command: string, allowedCommands: readonly string[]): CommandDecision {
  const kind = isPathCommand(command) ? 'path' : 'name';
  if (command.length > 0 && allowedCommands.includes(command)) return { allowed: true, kind };
  if (allowedCommands.length === 0) {
    return {
      allowed: false,
      why: `command '${command}' is not allowed: MCP_INIT_ALLOWED_COMMANDS is empty: no command is allowed`,
    };
  }
  const listed = allowedCommands.join(', ');
  return {
    allowed: false,
    why:
      kind === 'path'
        ? `command path '${command}' is not allowed: a path runs only if that exact path is on the allowlist (${listed})`
        : `command '${command}' is not allowed; allowed commands: ${listed}`,
  };
}

/** The first executable regular file called `name` in the absolute directories of `pathValue`. */
export async function findOnPath(name: string, pathValue: string | undefined): Promise<string | undefined> {
  for (const dir of (pathValue ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      if (!(await stat(candidate)).isFile()) continue;
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here (or not executable): keep looking, as execvp does
    }
  }
  return undefined;
}

/**
 * The file to execute for an allowed `command`: the PATH match of a bare name, or the listed
 * path itself (spawning it reports a missing file). Throws `not_allowed` or `spawn_failed`.
 */
export async function resolveAllowedCommand(
  command: string,
  allowedCommands: readonly string[],
  pathValue: string | undefined,
): Promise<string> {
  const decision = decideCommand(command, allowedCommands);
  if (!decision.allowed) throw new InitializeError('not_allowed', decision.why);
  if (decision.kind === 'path') return command;
  const found = await findOnPath(command, pathValue);
  if (found === undefined) {
    throw new InitializeError(
      'spawn_failed',
      `command '${command}' was not found (ENOENT) on the server's PATH (${pathValue || 'empty'})`,
    );
  }
  return found;
}
