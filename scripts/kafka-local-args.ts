/**
 * The kafka-local CLI's command line (node:util parseArgs): `up [--brokers N]`, `down [--wipe]`,
 * `status`, `--help`/`-h`. An unknown command or option, a missing or bad value is a UsageError
 * naming it; the CLI prints it with the usage and exits 2 — before anything starts or stops.
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type KafkaLocalArgs =
  | { command: 'help' }
  | { command: 'up'; brokers: number }
  | { command: 'down'; wipe: boolean }
  | { command: 'status' };

const OPTIONS = {
  up: { brokers: { type: 'string' } },
  down: { wipe: { type: 'boolean' } },
  status: {},
} as const;

export function parseKafkaLocalArgs(argv: string[]): KafkaLocalArgs {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') return { command: 'help' };
  if (command !== 'up' && command !== 'down' && command !== 'status') {
    throw new UsageError(`unknown command '${command}' (up, down or status)`);
  }
  let values: { brokers?: string; wipe?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { ...OPTIONS[command], help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }) as { values: typeof values });
  } catch (err) {
    throw new UsageError(`${command}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (values.help) return { command: 'help' };
  switch (command) {
    case 'up': {
      const raw = values.brokers ?? '1';
      const brokers = Number(raw);
      if (!/^\d+$/.test(raw) || brokers < 1 || brokers > 9) {
        throw new UsageError(`up: --brokers must be a whole number from 1 to 9, got '${raw}'`);
      }
      return { command, brokers };
    }
    case 'down':
      return { command, wipe: values.wipe === true };
    case 'status':
      return { command };
  }
}
