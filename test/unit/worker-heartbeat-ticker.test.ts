import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HeartbeatTicker, isRebalanceError } from '../../src/worker/heartbeat-ticker.ts';

function kafkaError(type: string) {
  return Object.assign(new Error(type), { type });
}

describe('heartbeat ticker', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('beats every interval until stopped', async () => {
    const heartbeat = vi.fn(async () => undefined);
    const ticker = new HeartbeatTicker({
      heartbeat,
      intervalMs: 100,
      onRebalance: vi.fn(),
      onError: vi.fn(),
    });
    await vi.advanceTimersByTimeAsync(350);
    expect(heartbeat).toHaveBeenCalledTimes(3);
    ticker.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(heartbeat).toHaveBeenCalledTimes(3);
  });

  it('never has two heartbeats in flight', async () => {
    let release: () => void = () => undefined;
    const heartbeat = vi.fn(() => new Promise<void>((r) => (release = r)));
    const ticker = new HeartbeatTicker({
      heartbeat,
      intervalMs: 100,
      onRebalance: vi.fn(),
      onError: vi.fn(),
    });
    await vi.advanceTimersByTimeAsync(550);
    expect(heartbeat).toHaveBeenCalledTimes(1);
    release();
    await vi.advanceTimersByTimeAsync(100);
    expect(heartbeat).toHaveBeenCalledTimes(2);
    ticker.stop();
  });

  it('reports the first rebalance once and keeps it; other failures go to onError', async () => {
    const answers = [
      kafkaError('REQUEST_TIMED_OUT'),
      kafkaError('REBALANCE_IN_PROGRESS'),
      kafkaError('ILLEGAL_GENERATION'),
    ];
    const heartbeat = vi.fn(async () => {
      const next = answers.shift();
      if (next) throw next;
    });
    const onRebalance = vi.fn();
    const onError = vi.fn();
    const ticker = new HeartbeatTicker({ heartbeat, intervalMs: 100, onRebalance, onError });
    await vi.advanceTimersByTimeAsync(450);
    ticker.stop();
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onRebalance).toHaveBeenCalledTimes(1);
    expect((ticker.rebalance as { type: string }).type).toBe('REBALANCE_IN_PROGRESS');
  });

  it('knows the kafkajs errors that mean "rejoin"', () => {
    for (const type of [
      'REBALANCE_IN_PROGRESS',
      'NOT_COORDINATOR_FOR_GROUP',
      'ILLEGAL_GENERATION',
      'UNKNOWN_MEMBER_ID',
    ]) {
      expect(isRebalanceError(kafkaError(type))).toBe(true);
    }
    expect(isRebalanceError(kafkaError('REQUEST_TIMED_OUT'))).toBe(false);
    expect(isRebalanceError(null)).toBe(false);
  });
});
