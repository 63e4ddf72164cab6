import { describe, expect, it } from 'vitest';
import { isRetriableTransactionError, retryTransactionStep } from '../../src/kafka/transactions.ts';
import { silentLogger } from '../../src/observability/logger.ts';

const refused = (type: string) => Object.assign(new Error(type), { type });

describe('retryTransactionStep', () => {
  it('knows the coordinator errors that say "ask again", also wrapped by kafkajs retries', () => {
    expect(isRetriableTransactionError(refused('CONCURRENT_TRANSACTIONS'))).toBe(true);
    expect(isRetriableTransactionError(refused('NOT_COORDINATOR_FOR_GROUP'))).toBe(true);
    expect(
      isRetriableTransactionError(
        new Error('retries exceeded', { cause: refused('GROUP_LOAD_IN_PROGRESS') }),
      ),
    ).toBe(true);
    expect(isRetriableTransactionError(refused('INVALID_PRODUCER_EPOCH'))).toBe(false);
    expect(isRetriableTransactionError(new Error('plain'))).toBe(false);
  });

  it('repeats the step until it succeeds, and gives up after the bounded attempts', async () => {
    const policy = { attempts: 3, initialMs: 1, maxMs: 2 };
    let calls = 0;
    const value = await retryTransactionStep(
      'step',
      async () => {
        if (++calls < 3) throw refused('CONCURRENT_TRANSACTIONS');
        return 'done';
      },
      silentLogger(),
      policy,
    );
    expect({ value, calls }).toEqual({ value: 'done', calls: 3 });

    calls = 0;
    const always = () => {
      calls++;
      return Promise.reject(refused('CONCURRENT_TRANSACTIONS'));
    };
    await expect(retryTransactionStep('step', always, silentLogger(), policy)).rejects.toThrow('CONCURRENT');
    expect(calls).toBe(3);

    calls = 0;
    const fatal = () => {
      calls++;
      return Promise.reject(refused('INVALID_PRODUCER_EPOCH'));
    };
    await expect(retryTransactionStep('step', fatal, silentLogger(), policy)).rejects.toThrow('INVALID');
    expect(calls).toBe(1);
  });
});
