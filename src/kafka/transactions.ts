/**
 * Retrying a step of a Kafka transaction that the transaction coordinator refused for a
 * passing reason.
 *
 * Right after a transaction commits, the coordinator is still writing its commit markers; a new
 * transaction's AddOffsetsToTxn / AddPartitionsToTxn in that window gets CONCURRENT_TRANSACTIONS,
 * which Kafka expects clients to retry (the Java client does). kafkajs retries it for produce
 * requests but not for `transaction.sendOffsets()`'s AddOffsetsToTxn, and its own retry of
 * TxnOffsetCommit misses the coordinator-loading errors. A failed step leaves the transaction
 * open (kafkajs keeps it in TRANSACTING), so repeating the same step is safe: Kafka treats adding
 * the same group again as a no-op, and offsets are only visible once the transaction commits.
 */
import type { Logger } from '../observability/logger.ts';
import { type BackoffPolicy, backoffDelay, sleep } from '../retry/backoff.ts';
import { errorMessage } from '../retry/errors.ts';

/**
 * kafkajs names of the protocol errors that say "not now, ask again": codes 51
 * (CONCURRENT_TRANSACTIONS), 14 (COORDINATOR_LOAD_IN_PROGRESS), 15 (COORDINATOR_NOT_AVAILABLE)
 * and 16 (NOT_COORDINATOR). kafkajs spells 14-16 with their pre-2.0 names; both are listed.
 */
export const RETRIABLE_TRANSACTION_ERRORS: ReadonlySet<string> = new Set([
  'CONCURRENT_TRANSACTIONS',
  'GROUP_LOAD_IN_PROGRESS',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR_FOR_GROUP',
  'NOT_COORDINATOR',
]);

export interface TransactionRetryPolicy extends BackoffPolicy {
  /** Tries in all, the first one included. */
  attempts: number;
}

/** About 15 s of retries at most: far longer than a coordinator needs to finish a commit. */
export const DEFAULT_TRANSACTION_RETRY: TransactionRetryPolicy = {
  attempts: 10,
  initialMs: 50,
  maxMs: 2_000,
};

/** True for an error (or the cause kafkajs wrapped it in after its own retries) worth retrying. */
export function isRetriableTransactionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && RETRIABLE_TRANSACTION_ERRORS.has(type)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Runs `step`, repeating it with bounded backoff while it fails with a retriable coordinator error. */
export async function retryTransactionStep<T>(
  what: string,
  step: () => Promise<T>,
  logger: Logger,
  policy: TransactionRetryPolicy = DEFAULT_TRANSACTION_RETRY,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (attempt >= policy.attempts || !isRetriableTransactionError(err)) throw err;
      const delayMs = backoffDelay(attempt, policy);
      // Expected right after a commit: debug, not a warning; the final failure is thrown.
      logger.debug({ err: errorMessage(err), attempt, delayMs }, `${what}: coordinator busy; retrying`);
      await sleep(delayMs);
    }
  }
}
