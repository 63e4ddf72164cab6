/**
 * The operator subcommands of `kafka-worker`: `status`, `dlq list`, `dlq replay`. Parses their
 * arguments, connects an admin client, runs src/ops/status.ts or src/ops/dlq.ts, prints tables
 * (or JSON) on stdout. Logs go to stderr, warnings and above only unless LOG_LEVEL says more.
 */
import type { WorkerConfig } from '../config.ts';
import { createKafka } from '../kafka/client.ts';
import { createLogger } from '../observability/logger.ts';
import { listDeadLetters, renderDeadLetters, replayDeadLetters } from './dlq.ts';
import { fetchWorkerStatus, renderWorkerStatus } from './status.ts';

export const OPS_USAGE = `  kafka-worker status [--json]        per partition: committed offset, end offset, lag, owner;
                                      group state, members and assignment; dead letters retained
  kafka-worker dlq list [--filter <reasons>] [--json]
                                      dead letters: reason, jobID, original topic/partition/offset,
                                      age, and whether a replay already re-published it
  kafka-worker dlq replay [--filter <reasons>] [--dry-run] [--limit <n>]
                                      re-publish dead letters to KAFKA_TOPIC (original key, value
                                      and headers; x-error-*/x-original-*/x-attempts dropped,
                                      x-replayed-from added), each at most once: progress is
                                      committed with every message, so an interrupted replay
                                      resumes without sending anything twice
                                      <reasons>: comma-separated x-error-reason values, e.g.
                                      tool-error,retries-exhausted; --dry-run prints and sends nothing
`;

export type OpsWrite = (text: string) => void;

export class UsageError extends Error {
  override name = 'UsageError';
}

interface ParsedOptions {
  json: boolean;
  dryRun: boolean;
  filter: string[] | undefined;
  limit: number | undefined;
}

function parseOptions(args: string[], allowed: Set<string>, command: string): ParsedOptions {
  const options: ParsedOptions = { json: false, dryRun: false, filter: undefined, limit: undefined };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    if (!allowed.has(name)) throw new UsageError(`${command}: unknown argument '${arg}'`);
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || v === '') throw new UsageError(`${command}: ${name} needs a value`);
      return v;
    };
    if (name === '--json') options.json = true;
    else if (name === '--dry-run') options.dryRun = true;
    else if (name === '--filter') {
      const reasons = value()
        .split(',')
        .map((r) => r.trim())
        .filter((r) => r.length > 0);
      options.filter = [...(options.filter ?? []), ...reasons];
    } else if (name === '--limit') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1)
        throw new UsageError(`${command}: --limit must be a positive integer`);
      options.limit = n;
    }
  }
  return options;
}

/** Runs `status`, `dlq list` or `dlq replay`; returns the exit code. */
export async function runOpsCommand(
  argv: string[],
  config: WorkerConfig,
  out: OpsWrite = (t) => process.stdout.write(t),
): Promise<number> {
  const [command, ...rest] = argv;
  let sub: 'status' | 'list' | 'replay';
  let args: string[];
  if (command === 'status') {
    sub = 'status';
    args = rest;
  } else if (command === 'dlq' && (rest[0] === 'list' || rest[0] === 'replay')) {
    sub = rest[0];
    args = rest.slice(1);
  } else {
    throw new UsageError(
      command === 'dlq' ? `dlq: expected 'list' or 'replay'` : `unknown command '${command}'`,
    );
  }
  const allowed = new Set(
    sub === 'status'
      ? ['--json']
      : sub === 'list'
        ? ['--json', '--filter']
        : ['--filter', '--dry-run', '--limit'],
  );
  const options = parseOptions(args, allowed, sub === 'status' ? 'status' : `dlq ${sub}`);

  const logger = createLogger({
    name: 'kafka-worker',
    level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    fd: 2,
  });
  const kafka = createKafka({ clientId: `${config.clientId}-ops`, brokers: config.brokers, logger });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const dlq = {
      kafka,
      admin,
      group: config.groupId,
      topic: config.topic,
      dlqTopic: config.dlqTopic,
      readerGroupPrefix: `${config.groupId}.dlq-reader`,
    };
    if (sub === 'status') {
      const status = await fetchWorkerStatus(admin, dlq);
      out(options.json ? `${JSON.stringify(status, null, 2)}\n` : renderWorkerStatus(status));
      return 0;
    }
    if (sub === 'list') {
      const entries = await listDeadLetters({ ...dlq, filter: options.filter });
      if (options.json) {
        const rows = entries.map(({ key, value, headers: _headers, ...e }) => ({
          ...e,
          key: key?.toString('utf8') ?? null,
          value: value?.toString('utf8') ?? null,
        }));
        out(`${JSON.stringify(rows, null, 2)}\n`);
      } else {
        out(renderDeadLetters(entries, config.dlqTopic, new Date()));
      }
      return 0;
    }
    const summary = await replayDeadLetters({
      ...dlq,
      filter: options.filter,
      dryRun: options.dryRun,
      limit: options.limit,
      logger,
      report: (line) => out(`${line}\n`),
    });
    out(
      `${summary.dryRun ? 'would replay' : 'replayed'} ${summary.replayed} dead letter(s) to ${config.topic}; ` +
        `${summary.alreadyReplayed} replayed before, ${summary.filteredOut} filtered out` +
        `${summary.complete ? '' : '; stopped at --limit (run again to continue)'}\n`,
    );
    return 0;
  } finally {
    await admin.disconnect().catch(() => undefined);
    logger.flush();
  }
}
