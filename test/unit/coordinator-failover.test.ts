/**
 * Which kafkajs failures the coordinator failover treats as "the coordinator is gone" (look it
 * up again and retry) and which it leaves to kafkajs. The failover itself runs against a real
 * 3-node cluster in test/faults/kafka-cluster.test.ts and test/faults/broker-loss.test.ts.
 */
import { createRequire } from 'node:module';
import { KafkaJSConnectionError, KafkaJSError, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  installCoordinatorFailover,
  isCoordinatorLost,
  isJoinInterrupted,
} from '../../src/kafka/coordinator-failover.ts';

const require = createRequire(import.meta.url);

function protocolError(code: number): Error {
  const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
    createErrorFromCode(code: number): Error;
  };
  return createErrorFromCode(code);
}

function named(name: string): Error {
  const err = new KafkaJSError('x');
  Object.defineProperty(err, 'name', { value: name });
  return err;
}

describe('coordinator failover: error classification', () => {
  it('a dead or moved coordinator is lost, for commits, heartbeats and joins', () => {
    for (const err of [
      new KafkaJSConnectionError('connect ECONNREFUSED'),
      named('KafkaJSConnectionClosedError'),
      named('KafkaJSBrokerNotFound'),
      named('KafkaJSRequestTimeoutError'),
      protocolError(15), // GROUP_COORDINATOR_NOT_AVAILABLE
      protocolError(16), // NOT_COORDINATOR_FOR_GROUP
    ]) {
      expect(isCoordinatorLost(err), err.message).toBe(true);
      expect(isJoinInterrupted(err), err.message).toBe(true);
    }
  });

  it('a coordinator still loading the group interrupts a join (retried) but is not a lost coordinator', () => {
    const loading = protocolError(14); // GROUP_LOAD_IN_PROGRESS
    expect(isJoinInterrupted(loading)).toBe(true);
    expect(isCoordinatorLost(loading)).toBe(false);
  });

  it('everything else is left to kafkajs', () => {
    for (const err of [
      protocolError(25), // UNKNOWN_MEMBER_ID: kafkajs rejoins with a new member id
      protocolError(27), // REBALANCE_IN_PROGRESS: kafkajs rejoins
      protocolError(22), // ILLEGAL_GENERATION
      new KafkaJSProtocolError('topic authorization failed'),
      new TypeError('a bug'),
      null,
      undefined,
    ]) {
      expect(isCoordinatorLost(err)).toBe(false);
      expect(isJoinInterrupted(err)).toBe(false);
    }
  });

  it('installs once, wrapping the kafkajs internals it names', () => {
    const { prototype: group } = require('kafkajs/src/consumer/consumerGroup.js') as {
      prototype: Record<string, unknown>;
    };
    installCoordinatorFailover();
    const wrapped = group.joinAndSync;
    installCoordinatorFailover();
    expect(group.joinAndSync).toBe(wrapped);
    expect(String(wrapped)).toContain('isJoinInterrupted');
  });
});
