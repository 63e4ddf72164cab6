import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (pure logic, no services) and `integration` (real Kafka, real
 * PostgreSQL, real HTTP; services acquired once per run by the global setup).
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
    ],
  },
});
