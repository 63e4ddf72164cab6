import { defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (pure logic, no services), `integration` (real Kafka, real
 * PostgreSQL, real HTTP; services acquired once per run by the global setup) and `faults`
 * (each file owns a 3-node Kafka cluster and a PostgreSQL it kills and restarts). `faults` runs
 * after the other two (sequence.groupOrder) and one file at a time, so three broker JVMs never
 * compete with the rest of the suite for a small machine's cores.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    setupFiles: ['test/helpers/remove-temp-dirs.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          // A safety net, not a speed goal: the tests' own waits (up to 120 s for a stream of jobs
          // on a loaded 2-core machine) must end first, so a failure names what it waited for.
          testTimeout: 240_000,
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          // A safety net above the tests' own waits (a broker-loss run takes 2–4 min when loaded).
          testTimeout: 480_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
