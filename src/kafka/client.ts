/**
 * kafkajs client factory. kafkajs logs go through our pino logger (one JSON stream per
 * process, same redaction), at the level pino is set to. The partitioner is named explicitly
 * (murmur2, Java-compatible) so a job keyed by jobID lands on the same partition whichever
 * client produced it. Consumers get group-coordinator failover (coordinator-failover.ts).
 */
import './kafkajs-patches.ts';
import { Kafka, type logCreator, logLevel } from 'kafkajs';
import type { Logger } from '../observability/logger.ts';
import { installCoordinatorFailover } from './coordinator-failover.ts';

export interface KafkaClientOptions {
  clientId: string;
  brokers: string[];
  logger: Logger;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

function kafkaLevelFor(pinoLevel: string): logLevel {
  switch (pinoLevel) {
    case 'trace':
    case 'debug':
      return logLevel.DEBUG;
    case 'info':
      return logLevel.INFO;
    case 'warn':
      return logLevel.WARN;
    case 'silent':
      return logLevel.NOTHING;
    default:
      return logLevel.ERROR;
  }
}

/**
 * kafkajs logs every refused request at ERROR before anyone decides what it means: its connection
 * logs each error response ("the coordinator is not available" while a group coordinator loads,
 * "not the correct coordinator" after it moved), its producer each produce attempt it is about to
 * retry (CONCURRENT_TRANSACTIONS right after a transaction commits). The error then goes to the
 * caller, which retries it (kafkajs itself, or src/kafka/transactions.ts) or fails and logs that.
 * Those per-attempt lines are debug detail: an operator sees the outcome, not every refusal on
 * the way.
 */
export function isRetriedRequestError(namespace: string, level: logLevel, message: string): boolean {
  if (level !== logLevel.ERROR) return false;
  return (
    (namespace === 'Connection' && message.startsWith('Response ')) ||
    (namespace === 'Producer' && message.startsWith('Failed to send messages: '))
  );
}

/** Bridges kafkajs' logger to pino: `{namespace, ...extra}` plus the message, at the same level. */
export function pinoLogCreator(logger: Logger): logCreator {
  const base = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...extra } = log as Record<string, unknown>;
      const fields = { namespace, ...extra };
      const text = typeof message === 'string' ? message : String(message);
      // Said whenever an idempotent producer's retries are bounded, as ours are (KAFKA_RETRY):
      // kafkajs' default was bounded too (5), it just did not say so. A send that gives up rolls
      // its sequence numbers back and our publisher sends the same records again.
      if (text === 'Limiting retries for the idempotent producer may invalidate EoS guarantees') {
        base.debug(fields, text);
        return;
      }
      if (isRetriedRequestError(namespace, level, text)) base.debug(fields, text);
      else if (level === logLevel.ERROR) base.error(fields, text);
      else if (level === logLevel.WARN) base.warn(fields, text);
      else if (level === logLevel.INFO) base.info(fields, text);
      else base.debug(fields, text);
    };
}

/**
 * kafkajs' default retry budget (5 retries from 300 ms, about 9 s in all) is shorter than a
 * dead broker's way out of a cluster (broker.session.timeout.ms, 9 s, then a leader election),
 * so a send or a coordinator lookup would give up just before the cluster recovers. About 40 s.
 */
export const KAFKA_RETRY = { initialRetryTime: 300, maxRetryTime: 5_000, retries: 10 } as const;

export function createKafka(options: KafkaClientOptions): Kafka {
  installCoordinatorFailover();
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: kafkaLevelFor(options.logger.level),
    logCreator: pinoLogCreator(options.logger),
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    retry: KAFKA_RETRY,
  });
}
