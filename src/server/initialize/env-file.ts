/**
 * Env files for spawned servers. A request names a dotenv file; the server reads it only
 * from inside its configured env directory (MCP_INIT_ENV_DIR), and with no directory
 * configured env files are refused outright. Containment is checked twice: on the path as
 * written (absolute paths and `..` that leave the directory) and on the real paths of both
 * (a symlink inside the directory pointing out of it). Messages name the requested path,
 * never the directory or any value read.
 */
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { parseEnv } from 'node:util';
import { InitializeError } from './errors.ts';

export const MAX_ENV_FILE_BYTES = 256 * 1024;

/** True when `target` is `dir` or lies below it (both absolute, normalised). */
export function isWithin(dir: string, target: string): boolean {
  const rel = relative(dir, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** The real path of `envFile` if it is a file inside `envDir`; throws `env_file` otherwise. */
export async function resolveEnvFile(envFile: string, envDir: string | undefined): Promise<string> {
  if (envDir === undefined || envDir.trim() === '') {
    throw new InitializeError(
      'env_file',
      `envFile '${envFile}' refused: this server has no env directory (MCP_INIT_ENV_DIR), so env files are disabled`,
    );
  }
  const dir = resolve(envDir);
  const requested = resolve(dir, envFile);
  if (!isWithin(dir, requested)) {
    throw new InitializeError('env_file', `envFile '${envFile}' refused: it is outside the env directory`);
  }
  let realDir: string;
  try {
    realDir = await realpath(dir);
  } catch (err) {
    throw new InitializeError('env_file', `envFile '${envFile}' refused: the env directory does not exist`, {
      cause: err,
    });
  }
  let realFile: string;
  try {
    realFile = await realpath(requested);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : `cannot be resolved (${code ?? 'error'})`;
    throw new InitializeError('env_file', `envFile '${envFile}' ${what} in the env directory`, {
      cause: err,
    });
  }
  if (!isWithin(realDir, realFile)) {
    throw new InitializeError(
      'env_file',
      `envFile '${envFile}' refused: it resolves (through a symlink) outside the env directory`,
    );
  }
  return realFile;
}

/** Reads and parses a dotenv file (node's util.parseEnv), refusing non-files and oversized files. */
export async function loadEnvFile(realFile: string, label: string): Promise<Record<string, string>> {
  let text: string;
  try {
    // O_NONBLOCK: a FIFO placed in the directory must not block the open.
    const handle = await open(realFile, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new InitializeError('env_file', `envFile '${label}' is not a regular file`);
      if (info.size > MAX_ENV_FILE_BYTES) {
        throw new InitializeError(
          'env_file',
          `envFile '${label}' is too large (${info.size} bytes; at most ${MAX_ENV_FILE_BYTES})`,
        );
      }
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof InitializeError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new InitializeError('env_file', `envFile '${label}' cannot be read (${code})`, { cause: err });
  }
  return parseEnv(text) as Record<string, string>;
}

/** `resolveEnvFile` then `loadEnvFile`: the variables of a request's envFile. */
export async function readEnvFile(
  envFile: string,
  envDir: string | undefined,
): Promise<Record<string, string>> {
  return loadEnvFile(await resolveEnvFile(envFile, envDir), envFile);
}
