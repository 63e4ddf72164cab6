/**
 * The operator subcommands of `kafka-worker`: `status`, `dlq list`, `dlq replay`, `results`.
 * Parses their arguments (node:util parseArgs), connects an admin client, runs src/ops/status.ts,
 * src/ops/dlq.ts or src/ops/results.ts, prints tables or lines (or JSON) on stdout. Logs go to stderr, warnings and above only unless LOG_LEVEL says more.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { WorkerConfig } from '../config.ts';
import { createKafka } from '../kafka/client.ts';
import { createLogger } from '../observability/logger.ts';
import { listDeadLetters, renderDeadLetters, replayDeadLetters } from './dlq.ts';
import { tailResults } from './results.ts';
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
  kafka-worker results [--last <n>] [--follow] [--json]
                                      outcome events of <topic>.results, one line each: finished at,
                                      status, jobID, jobType, attempts, duration, result or reason;
                                      the last <n> (20) retained, then with --follow new ones until
                                      Ctrl-C; --json prints the events as JSON lines
`;

export type OpsWrite = (text: string) => void;

export class UsageError extends Error {
  override name = 'UsageError';
}

type Subcommand = 'status' | 'list' | 'replay' | 'results';

/** The options each subcommand takes (node:util parseArgs); anything else is a usage error. */
const SUBCOMMAND_OPTIONS = {
  status: { json: { type: 'boolean' } },
  list: { json: { type: 'boolean' }, filter: { type: 'string', multiple: true } },
  replay: {
    filter: { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
    limit: { type: 'string' },
  },
  results: { json: { type: 'boolean' }, follow: { type: 'boolean', short: 'f' }, last: { type: 'string' } },
} as const satisfies Record<Subcommand, ParseArgsConfig['options']>;

interface ParsedOptions {
  json: boolean;
  dryRun: boolean;
  follow: boolean;
  filter: string[] | undefined;
  limit: number | undefined;
  last: number | undefined;
}

function positiveInteger(command: string, name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${command}: --${name} must be a positive integer`);
  return n;
}

function parseOptions(args: string[], sub: Subcommand, command: string): ParsedOptions {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    const options: ParseArgsConfig['options'] = SUBCOMMAND_OPTIONS[sub];
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }) as {
      values: typeof values;
    });
  } catch (err) {
    throw new UsageError(`${command}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const filter = (values.filter as string[] | undefined)
    ?.flatMap((list) => list.split(','))
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  if (values.filter !== undefined && filter?.length === 0)
    throw new UsageError(`${command}: --filter needs a value`);
  return {
    json: values.json === true,
    dryRun: values['dry-run'] === true,
    follow: values.follow === true,
    filter,
    limit: positiveInteger(command, 'limit', values.limit as string | undefined),
    last: positiveInteger(command, 'last', values.last as string | undefined),
  };
}

/** Where a command prints, and a signal that aborts once nobody reads it any more. */
export interface OpsOutput {
  write: OpsWrite;
  closed: AbortSignal;
}

/**
 * An output over a stream its reader may close early (`kafka-worker results | head`): the first
 * EPIPE aborts `closed` and later writes are dropped, where an unhandled 'error' event would
 * kill the process mid-command (and leave a `results` reader group behind). Other write errors
 * are thrown as before.
 */
export function pipeOutput(stream: NodeJS.WriteStream = process.stdout): OpsOutput {
  const closed = new AbortController();
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    closed.abort(err);
  });
  return {
    write: (text) => {
      if (!closed.signal.aborted) stream.write(text);
    },
    closed: closed.signal,
  };
}

/** Runs `status`, `dlq list`, `dlq replay` or `results`; returns the exit code. */
export async function runOpsCommand(
  argv: string[],
  config: WorkerConfig,
  output: OpsOutput = pipeOutput(),
): Promise<number> {
  const out = output.write;
  const [command, ...rest] = argv;
  let sub: Subcommand;
  let args: string[];
  if (command === 'status' || command === 'results') {
    sub = command;
    args = rest;
  } else if (command === 'dlq' && (rest[0] === 'list' || rest[0] === 'replay')) {
    sub = rest[0];
    args = rest.slice(1);
  } else {
    throw new UsageError(
      command === 'dlq' ? `dlq: expected 'list' or 'replay'` : `unknown command '${command}'`,
    );
  }
  const options = parseOptions(args, sub, sub === 'status' || sub === 'results' ? sub : `dlq ${sub}`);

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
    if (sub === 'results') {
      // Ctrl-C, or the reader of the output going away, ends a --follow run cleanly (the reader
      // group is deleted on the way out).
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      output.closed.addEventListener('abort', onSignal, { once: true });
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, onSignal);
      try {
        const printed = await tailResults({
          kafka,
          admin,
          resultsTopic: config.resultsTopic,
          readerGroupPrefix: `${config.groupId}.results-reader`,
          last: options.last ?? 20,
          follow: options.follow,
          json: options.json,
          out: (line) => out(`${line}\n`),
          signal: stop.signal,
        });
        if (printed === 0 && !options.json) out(`${config.resultsTopic}: no outcome events\n`);
      } finally {
        for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, onSignal);
        output.closed.removeEventListener('abort', onSignal);
      }
      return 0;
    }
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
