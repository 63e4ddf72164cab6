/**
 * mcp-server's command line (node:util parseArgs): `--stdio`, `--help`/`-h`, `--version`, nothing
 * else. Anything else — an unknown option, a value where none is taken, a positional — is a
 * UsageError whose message names it; the entrypoint prints it with the help and exits 2.
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type ServerArgs = { action: 'help' } | { action: 'version' } | { action: 'serve'; stdio: boolean };

export function parseServerArgs(argv: string[]): ServerArgs {
  let values: { stdio?: boolean; help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        stdio: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return { action: 'help' };
  if (values.version) return { action: 'version' };
  return { action: 'serve', stdio: values.stdio === true };
}
